"""Build placeholder dataset trees for the adapter tests: tiny frames laid out like the real releases.

The trees are built from the real sheets in ``../shared/reference`` (read here with openpyxl at the sheets'
fixed positions, independently of the adapters under test) or from small synthetic sheets.
"""

from __future__ import annotations

import csv
import functools
import re
import shutil
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import openpyxl

CASME2_HEADER = ["Subject", "Filename", None, "OnsetFrame", "ApexFrame", "OffsetFrame", None, "Action Units",
                 "Estimated Emotion"]
SAMM_HEADER = ["Subject", "Filename", "Inducement Code", "Onset Frame", "Apex Frame", "Offset Frame", "Duration",
               "Micro", "Action Units", "Estimated Emotion", "Objective Classes", "Notes"]
MMEW_HEADER = ["Subject", "Filename", "OnsetFrame", "ApexFrame", "OffsetFrame", "Action Units", "Estimated Emotion",
               "remarks"]
SAMM_PREAMBLE = 13
SMIC_CODES = {"ne": "negative", "po": "positive", "sur": "surprise"}


@functools.cache
def placeholder(suffix: str) -> bytes:
    """A real 8x8 grey image encoded as ``suffix`` (``.jpg``, ``.bmp``), encoded once and reused."""
    import cv2

    ok, encoded = cv2.imencode(suffix, np.full((8, 8, 3), 128, np.uint8))  # (H, W, 3) BGR
    assert ok, suffix
    return encoded.tobytes()


def write_frames(folder: Path, names: Iterable[str]) -> None:
    """Write placeholder frames named ``names`` into ``folder`` (created)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / name).write_bytes(placeholder(Path(name).suffix))


def write_sheet(path: Path, header: Sequence[Any], rows: Iterable[Sequence[Any]], preamble: int = 0) -> Path:
    """Write an .xlsx sheet: ``preamble`` text rows, the header, then ``rows``."""
    book = openpyxl.Workbook()
    sheet = book.active
    for i in range(preamble):
        sheet.append([f"preamble line {i + 1}"] if i % 3 == 0 else [])
    sheet.append(list(header))
    for row in rows:
        sheet.append(list(row))
    path.parent.mkdir(parents=True, exist_ok=True)
    book.save(path)
    return path


def annotated_frames(onset: int, apex: Any, offset: int) -> list[int]:
    """Frame numbers to write for an annotated clip: onset, apex (when a number), offset, and one before onset
    (real raw folders hold frames outside onset..offset)."""
    numbers = {onset, offset} | ({apex} if isinstance(apex, int) else set())
    return sorted(numbers | ({onset - 1} if onset > 1 else set()))


# ----- real sheets -----------------------------------------------------------------------------------------


def real_rows(sheet: Path, header_row: int) -> list[tuple]:
    """Data rows (non-empty subject) of the first worksheet below ``header_row`` (1-based)."""
    book = openpyxl.load_workbook(sheet, read_only=True)
    try:
        rows = list(book.worksheets[0].iter_rows(min_row=header_row + 1, values_only=True))
    finally:
        book.close()
    return [r for r in rows if r and r[0] is not None]


def casme2_from_sheet(root: Path, sheet: Path, frames_dir: str = "CASME2_RAW_selected", prefix: str = "img") -> Path:
    """CASME II tree from its real sheet: ``root/<sheet>`` plus ``root/frames_dir/subNN/<clip>/<prefix>N.jpg``."""
    root.mkdir(parents=True, exist_ok=True)
    shutil.copy(sheet, root / sheet.name)
    for subject, clip, _, onset, apex, offset, *_ in real_rows(sheet, 1):
        folder = root / frames_dir / f"sub{int(subject):02d}" / clip
        write_frames(folder, [f"{prefix}{n}.jpg" for n in annotated_frames(onset, apex, offset)])
    return root


def samm_from_sheet(root: Path, sheet: Path, frames_dir: str = "SAMM") -> Path:
    """SAMM tree from its real sheet (header on row 14): ``root/<sheet>`` + ``root/SAMM/006/006_1_2/006_05562.jpg``."""
    root.mkdir(parents=True, exist_ok=True)
    shutil.copy(sheet, root / sheet.name)
    for subject, clip, _, onset, apex, offset, *_ in real_rows(sheet, SAMM_PREAMBLE + 1):
        subject = f"{int(subject):03d}"
        write_frames(root / frames_dir / subject / clip,
                     [f"{subject}_{n:05d}.jpg" for n in annotated_frames(onset, apex, offset)])
    return root


def official_list(reference: Path) -> list[tuple[str, str, str, int]]:
    """Rows of ``megc2019_combined_3class_gt.csv``: (dataset, subject, clip, label)."""
    with open(reference / "megc2019_combined_3class_gt.csv", newline="") as f:
        return [(d, s, c, int(label)) for d, s, c, label in csv.reader(f)]


def smic_clip_folder(hs: Path, clip: str) -> Path:
    """Where the SMIC release keeps an official-list clip: ``s01_ne_01`` -> ``HS/s1/micro/negative/s1_ne_01``."""
    number, code, index = re.fullmatch(r"s(\d+)_([a-z]+)_(\d+)", clip).groups()
    return hs / f"s{int(number)}" / "micro" / SMIC_CODES[code] / f"s{int(number)}_{code}_{index}"


def smic_from_list(root: Path, clips: Iterable[str], hs: str = "SMIC_all_raw/HS") -> Path:
    """SMIC-HS tree with the given official-list clips, unpadded names as in the release, and frames
    ``image<N>.bmp`` around N = 100 so that string order would be wrong (``image100`` < ``image98``)."""
    for i, clip in enumerate(clips):
        start = 97 + i % 3
        write_frames(smic_clip_folder(root / hs, clip), [f"image{n}.bmp" for n in range(start, start + 5)])
    (root / hs / "s1" / "non_micro").mkdir(parents=True, exist_ok=True)  # the release has these; not read
    return root
