"""Annotation sheets (.xlsx): find the header row by its column names, read rows, parse frame numbers.

The real sheets have quirks handled here: SAMM puts 13 preamble rows above its header (row 14), CASME II has
blank header cells between its columns, integer-looking cells come back as ``int``, ``float`` or ``str``
(``'01'``, ``'006'``), missing apexes are written ``/``, and SAMM's Duration column holds formulas (read with
``data_only=True``: the values Excel cached, never the formula text).
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from preprocessing.annotations.sample import DatasetError

# How far down a worksheet the header row may be (SAMM's is on row 14).
HEADER_SEARCH_ROWS = 40

# Cell texts that mean "no value" in the sheets (CASME II writes a missing apex as "/").
MISSING_MARKS = frozenset({"", "/", "-", "--", "n/a", "na", "none", "?"})


def normalise_header(text: Any) -> str:
    """Header text reduced to lower-case letters and digits: ``'Onset Frame'`` and ``'OnsetFrame'`` match."""
    return re.sub(r"[^a-z0-9]", "", str(text).lower()) if text is not None else ""


@dataclass(frozen=True)
class Column:
    """A column the adapter reads: its display name and the normalised header texts accepted for it."""

    name: str  # as the error message shows it, e.g. "OnsetFrame"
    aliases: tuple[str, ...]  # normalised header texts, e.g. ("onsetframe", "onset")
    required: bool = True


@dataclass(frozen=True)
class SheetRow:
    """One data row: its 1-based row number in the worksheet and its cells by column name."""

    number: int
    cells: dict[str, Any]

    def __getitem__(self, name: str) -> Any:
        return self.cells.get(name)


@dataclass(frozen=True)
class Sheet:
    """The data rows under a sheet's header row."""

    path: Path
    worksheet: str
    header_row: int  # 1-based
    rows: list[SheetRow]


def _match_header(values: tuple[Any, ...], columns: list[Column]) -> dict[str, int]:
    """Column name -> 0-based index for the columns found in a candidate header row (first match wins)."""
    found: dict[str, int] = {}
    normalised = [normalise_header(v) for v in values]
    for column in columns:
        for index, text in enumerate(normalised):
            if text and text in column.aliases:
                found[column.name] = index
                break
    return found


def read_sheet(path: str | Path, columns: list[Column], *, worksheet: str | None = None) -> Sheet:
    """Read an annotation sheet: search each worksheet's first rows for the header, return the rows below it.

    Rows whose required cells are all blank (spacer rows, trailing empty rows) are skipped.

    Args:
        path: the ``.xlsx`` workbook.
        columns: the columns to read; the header row is the first row holding every required one.
        worksheet: only search this worksheet (default: every worksheet, in workbook order).

    Returns:
        The sheet's data rows with their worksheet row numbers.

    Raises:
        DatasetError: the file is missing or unreadable, or no row holds all required columns (the message
            names the file, the closest row's columns and the expected ones).
    """
    import openpyxl  # imported here: only adapters with a sheet need it
    from openpyxl.utils.exceptions import InvalidFileException

    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"annotation sheet not found: {path} (expected an .xlsx file)")
    try:
        # read_only streams rows; data_only returns cached formula results (SAMM's Duration) instead of "=SUM(...)".
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (InvalidFileException, zipfile.BadZipFile, OSError, KeyError, ValueError) as exc:
        raise DatasetError(f"cannot read annotation sheet {path}: {exc}; expected an .xlsx workbook (Excel 2007 or "
                           "later; save an old .xls as .xlsx)") from exc
    try:
        names = [worksheet] if worksheet is not None else list(book.sheetnames)
        # (matches, worksheet, row, texts, columns found) of the closest row
        best: tuple[int, str, int, list[str], set[str]] = (-1, "", 0, [], set())
        for name in names:
            if name not in book.sheetnames:
                raise DatasetError(f"{path} has no worksheet {name!r}; it has {', '.join(book.sheetnames)}")
            rows = book[name].iter_rows(values_only=True)
            for row_number, values in enumerate(rows, start=1):
                if row_number > HEADER_SEARCH_ROWS:
                    break
                found = _match_header(values, columns)
                if all(c.name in found for c in columns if c.required):
                    return Sheet(path, name, row_number, list(_data_rows(rows, found, columns, row_number)))
                if len(found) > best[0]:
                    best = (len(found), name, row_number, [str(v) for v in values if v is not None], set(found))
    finally:
        book.close()
    expected = ", ".join(c.name for c in columns if c.required)
    missing = ", ".join(c.name for c in columns if c.required and c.name not in best[4])
    closest = (
        f"closest: worksheet {best[1]!r} row {best[2]} has {', '.join(best[3]) or 'no text'}; missing {missing}"
        if best[0] > 0 else "no row has any of them"
    )
    raise DatasetError(
        f"{path}: no header row with the columns {expected} in the first {HEADER_SEARCH_ROWS} rows of "
        f"{'worksheet ' + repr(worksheet) if worksheet else 'any worksheet'} ({closest}); "
        "check that this is the right annotation sheet"
    )


def _data_rows(rows: Iterator[tuple[Any, ...]], found: dict[str, int], columns: list[Column],
               header_row: int) -> Iterator[SheetRow]:
    required = [c.name for c in columns if c.required]
    for row_number, values in enumerate(rows, start=header_row + 1):
        cells = {name: (values[index] if index < len(values) else None) for name, index in found.items()}
        if all(is_missing(cells.get(name)) for name in required):
            continue
        yield SheetRow(row_number, cells)


def is_missing(value: Any) -> bool:
    """Whether a cell means "no value": empty, or one of :data:`MISSING_MARKS` such as ``/``."""
    return value is None or (isinstance(value, str) and value.strip().lower() in MISSING_MARKS)


def cell_text(value: Any) -> str:
    """A cell as stripped text; integral floats lose their ``.0`` (``12.0`` -> ``'12'``); ``None`` -> ``''``."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def parse_frame(value: Any, role: str) -> int | None:
    """A frame-number cell as an int, or ``None`` where the sheet marks it missing (``/``, blank).

    Args:
        value: the cell (``int``, integral ``float`` or digit string).
        role: ``"onset"``, ``"apex"`` or ``"offset"``, for the error message.

    Raises:
        ValueError: the cell is not a whole non-negative number (message says which and what was found).
    """
    if is_missing(value):
        return None
    if isinstance(value, bool):
        raise ValueError(f"{role} is not a frame number: {value!r}")
    if isinstance(value, int):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str) and value.strip().isdigit():
        number = int(value.strip())
    else:
        raise ValueError(f"{role} is not a frame number: {value!r}")
    if number < 0:
        raise ValueError(f"{role} is not a frame number: {value!r}")
    return number


def subject_number(value: Any, prefixes: tuple[str, ...] = ()) -> int:
    """A subject cell as its number: ``1``, ``1.0``, ``'01'``, ``'006'`` and (with ``prefixes=('sub',)``) ``'sub01'``.

    Raises:
        ValueError: no number can be read.
    """
    text = cell_text(value).lower()
    for prefix in prefixes:
        if text.startswith(prefix) and text[len(prefix):].isdigit():
            text = text[len(prefix):]
            break
    if not text.isdigit():
        raise ValueError(f"subject is not a subject number: {value!r}")
    return int(text)
