"""CASME II: sheet ``CASME2-coding-*.xlsx`` plus frames ``subNN/EPxx_yy[f]/img<N>.jpg``.

Release layouts found automatically under the root (or pass ``frames_dir``): ``CASME2_RAW_selected/``
(preferred: uncropped, the pipeline aligns faces itself), ``CASME2-RAW/``, ``Cropped/`` (``reg_img<N>.jpg``),
or the subject folders directly in the root. The sheet's Subject is ``1`` or ``'01'`` (-> ``casme2/sub01``,
folder ``sub01``); its ApexFrame may be ``/`` (kept as ``apex=None``; the protocols exclude such clips).
"""

from __future__ import annotations

import re
from pathlib import Path

from preprocessing.annotations.datasets._common import (
    CLIP_COLUMNS,
    find_frames_dir,
    find_sheet,
    has_child_dir,
    resolve_root,
    scan_sheet,
)
from preprocessing.annotations.sample import DatasetScan
from preprocessing.annotations.sheets import SheetRow, cell_text, read_sheet, subject_number

NAME = "casme2"
TITLE = "CASME II"
SHEET_PATTERNS = ("CASME2-coding-20140508.xlsx", "CASME2-coding*.xlsx", "CASME2*coding*.xlsx", "CASME2*.xlsx")
FRAMES_DIRS = ("CASME2_RAW_selected", "CASME2-RAW", "CASME2_RAW", "Cropped", "CASME2_Cropped")
EXPECTED = "a folder holding CASME2-coding-*.xlsx and the frames sub01/EP02_01f/img46.jpg (e.g. CASME2_RAW_selected/)"

_SUBJECT_DIR = re.compile(r"sub\d+", re.IGNORECASE)


def is_frames_root(folder: Path) -> bool:
    """Whether ``folder`` holds CASME II subject folders (``sub01``, ...)."""
    return has_child_dir(folder, lambda name: _SUBJECT_DIR.fullmatch(name) is not None)


def scan(root: str | Path, *, sheet: str | Path | None = None, frames_dir: str | Path | None = None) -> DatasetScan:
    """Read CASME II under ``root`` into validated Samples (all 255 sheet rows; protocols select later).

    Args:
        root: dataset root (the folder holding the sheet and the frames folder).
        sheet: annotation sheet, absolute or relative to ``root`` (default: auto-detect).
        frames_dir: folder holding ``sub01/``, ... absolute or relative to ``root`` (default: auto-detect).

    Returns:
        The samples plus the rows excluded with their reasons.

    Raises:
        DatasetError: missing root, sheet or frames folder, unreadable sheet, missing columns.
    """
    root = resolve_root(root, TITLE, EXPECTED)
    sheet_path = find_sheet(root, sheet, SHEET_PATTERNS, TITLE, NAME, stop=is_frames_root)
    table = read_sheet(sheet_path, CLIP_COLUMNS)
    frames_root, frames_note = find_frames_dir(root, frames_dir, is_frames_root, FRAMES_DIRS, TITLE, NAME, EXPECTED)

    def locate(row: SheetRow) -> tuple[str, str, Path]:
        number = subject_number(row["Subject"], prefixes=("sub",))
        clip = cell_text(row["Filename"])
        if not clip:
            raise ValueError("filename missing in the sheet")
        folder = f"sub{number:02d}"
        return f"{NAME}/{folder}", clip, frames_root / folder / clip

    notes = [f"sheet: {sheet_path} (worksheet {table.worksheet!r}, header row {table.header_row})", frames_note]
    return scan_sheet(NAME, root, table, locate, notes)
