"""SAMM: sheet ``SAMM_Micro_FACS_Codes_v2.xlsx`` plus frames ``006/006_1_2/006_05562.jpg``.

The sheet has 13 preamble rows; its header (row 14) is found by its column names. Subject ``6`` or ``'006'``
-> ``samm/006``, folder ``006``. The emotion is the "Estimated Emotion" column, lower-cased (``'Other'`` ->
``'other'``); "Objective Classes" is not used. Frames folder found automatically: the root itself, ``SAMM/``
or ``SAMM_CROP/`` (or pass ``frames_dir``).
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

NAME = "samm"
TITLE = "SAMM"
SHEET_PATTERNS = ("SAMM_Micro_FACS_Codes_v2.xlsx", "SAMM_Micro_FACS_Codes*.xlsx", "SAMM*FACS*.xlsx", "SAMM*.xlsx")
FRAMES_DIRS = ("SAMM", "SAMM_RAW", "SAMM_CROP", "SAMM_cropped")
EXPECTED = "a folder holding SAMM_Micro_FACS_Codes_v2.xlsx and the frames 006/006_1_2/006_05562.jpg"

_SUBJECT_DIR = re.compile(r"\d{3}")


def is_frames_root(folder: Path) -> bool:
    """Whether ``folder`` holds SAMM subject folders (``006``, ...)."""
    return has_child_dir(folder, lambda name: _SUBJECT_DIR.fullmatch(name) is not None)


def scan(root: str | Path, *, sheet: str | Path | None = None, frames_dir: str | Path | None = None) -> DatasetScan:
    """Read SAMM under ``root`` into validated Samples (all 159 sheet rows; protocols select later).

    Args:
        root: dataset root (the folder holding the sheet and the frames).
        sheet: annotation sheet, absolute or relative to ``root`` (default: auto-detect).
        frames_dir: folder holding ``006/``, ... absolute or relative to ``root`` (default: auto-detect).

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
        folder = f"{subject_number(row['Subject']):03d}"
        clip = cell_text(row["Filename"])
        if not clip:
            raise ValueError("filename missing in the sheet")
        return f"{NAME}/{folder}", clip, frames_root / folder / clip

    notes = [f"sheet: {sheet_path} (worksheet {table.worksheet!r}, header row {table.header_row})", frames_note]
    return scan_sheet(NAME, root, table, locate, notes)
