"""Byte-reproducible writers: the CASME II-style coding sheet (.xlsx), .npz arrays and JSON.

Zip-based formats carry timestamps (each member's date, and openpyxl's document properties); both are pinned
so that the same content always gives the same bytes.
"""

from __future__ import annotations

import datetime
import io
import json
import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

# Row 1 of the real CASME2-coding-20140508.xlsx, blank columns included.
CASME2_HEADER: tuple[str | None, ...] = (
    "Subject", "Filename", None, "OnsetFrame", "ApexFrame", "OffsetFrame", None, "Action Units", "Estimated Emotion",
)
FIXED_DATE = datetime.datetime(2014, 5, 8, 0, 0, 0)  # the real sheet's release date, as every timestamp
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)


def pinned_zip(members: Sequence[tuple[str, bytes]]) -> bytes:
    """A deflated zip of ``(name, data)`` members with fixed dates and permissions."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members:
            info = zipfile.ZipInfo(name, date_time=_ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, data, compresslevel=1)  # fast, and the motion fields are mostly zeros
    return out.getvalue()


def action_units_cell(action_units: Sequence[int] | int | str) -> int | str:
    """How the real sheet writes AUs: a lone AU as a number (``12``), several as text (``"1+2"``); a cell already
    written so (``12``, ``"4+R14"``) is kept."""
    if isinstance(action_units, int | str):
        return action_units
    return int(action_units[0]) if len(action_units) == 1 else "+".join(str(a) for a in action_units)


def write_coding_sheet(path: Path, rows: Sequence[dict]) -> None:
    """Write a coding sheet with the real CASME II header and layout (Sheet1, plus empty Sheet2 and Sheet3).

    Args:
        path: the .xlsx to write.
        rows: dicts with ``subject`` (e.g. ``"01"``), ``clip``, ``onset``, ``apex``, ``offset``, ``action_units``
            (sequence of ints, or a cell as ``action_units_cell`` returns it) and ``emotion``.
    """
    from openpyxl import Workbook
    from openpyxl.writer.excel import ExcelWriter

    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "Sheet1"
    sheet.append(list(CASME2_HEADER))
    for row in rows:
        sheet.append([row["subject"], row["clip"], None, row["onset"], row["apex"], row["offset"], None,
                      action_units_cell(row["action_units"]), row["emotion"]])
    workbook.create_sheet("Sheet2")
    workbook.create_sheet("Sheet3")
    props = workbook.properties
    props.creator = props.lastModifiedBy = "mer-ray demo generator"
    props.created = props.modified = FIXED_DATE
    raw = io.BytesIO()
    with zipfile.ZipFile(raw, "w", zipfile.ZIP_DEFLATED) as archive:
        ExcelWriter(workbook, archive).save()  # unlike save_workbook, leaves `modified` as set
    with zipfile.ZipFile(io.BytesIO(raw.getvalue())) as archive:
        members = [(info.filename, archive.read(info.filename)) for info in archive.infolist()]
    path.write_bytes(pinned_zip(members))


def write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """``np.savez_compressed`` with pinned member dates (numpy stamps the current time)."""
    members = []
    for name, array in arrays.items():
        buffer = io.BytesIO()
        np.lib.format.write_array(buffer, np.ascontiguousarray(array), allow_pickle=False)
        members.append((f"{name}.npy", buffer.getvalue()))
    path.write_bytes(pinned_zip(members))


def to_jsonable(value):
    """Round floats (6 decimals) and turn numpy / tuples into plain JSON types, recursively."""
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return to_jsonable(value.tolist())
    if isinstance(value, np.integer | bool):
        return value if isinstance(value, bool) else int(value)
    if isinstance(value, float | np.floating):
        return round(float(value), 6)
    return value


def write_json(path: Path, value) -> None:
    """Indented JSON of ``to_jsonable(value)`` with a trailing newline."""
    path.write_text(json.dumps(to_jsonable(value), indent=1) + "\n", encoding="utf-8")


def write_workbook(path: Path, worksheets: Sequence[tuple[str, Sequence[Sequence]]]) -> None:
    """Write an .xlsx of ``(title, rows)`` worksheets with pinned dates (same rows, same bytes)."""
    from openpyxl import Workbook
    from openpyxl.writer.excel import ExcelWriter

    workbook = Workbook()
    workbook.remove(workbook.active)
    for title, rows in worksheets:
        sheet = workbook.create_sheet(title)
        for row in rows:
            sheet.append(list(row))
    props = workbook.properties
    props.creator = props.lastModifiedBy = "mer-ray demo generator"
    props.created = props.modified = FIXED_DATE
    raw = io.BytesIO()
    with zipfile.ZipFile(raw, "w", zipfile.ZIP_DEFLATED) as archive:
        ExcelWriter(workbook, archive).save()
    with zipfile.ZipFile(io.BytesIO(raw.getvalue())) as archive:
        members = [(info.filename, archive.read(info.filename)) for info in archive.infolist()]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pinned_zip(members))
