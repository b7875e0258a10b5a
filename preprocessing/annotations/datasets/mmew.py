"""MMEW (micro-expression part): sheet ``MMEW_Micro_Exp.xlsx`` plus frames ``{emotion}/{Filename}/{n}.jpg``.

Sheet columns: ``Subject, Filename, OnsetFrame, ApexFrame, OffsetFrame, Action Units, Estimated Emotion,
remarks``. The frames folder (``Micro_Expression/`` in the release, or pass ``frames_dir``) holds one folder
per emotion, matched case-insensitively with the sheet's emotion. Subject ``1`` / ``'S01'`` -> ``mmew/S01``.
"""

from __future__ import annotations

import os
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

NAME = "mmew"
TITLE = "MMEW"
SHEET_PATTERNS = ("MMEW_Micro_Exp.xlsx", "MMEW_Micro_Exp*.xlsx", "MMEW*Micro*.xlsx")
FRAMES_DIRS = ("Micro_Expression", "Micro_Expressions")
EXPECTED = "a folder holding MMEW_Micro_Exp.xlsx and the frames Micro_Expression/happiness/S01_01/1.jpg"

# Emotion folder names of the release; a frames root holds at least one of them.
EMOTION_DIRS = frozenset({"happiness", "surprise", "disgust", "fear", "sadness", "anger", "contempt", "others"})


def is_frames_root(folder: Path) -> bool:
    """Whether ``folder`` holds MMEW emotion folders (``happiness``, ``surprise``, ...)."""
    return has_child_dir(folder, lambda name: name.lower() in EMOTION_DIRS)


def scan(root: str | Path, *, sheet: str | Path | None = None, frames_dir: str | Path | None = None) -> DatasetScan:
    """Read MMEW's micro-expressions under ``root`` into validated Samples.

    Args:
        root: dataset root (e.g. ``MMEW_Final/``).
        sheet: annotation sheet, absolute or relative to ``root`` (default: auto-detect).
        frames_dir: folder holding the emotion folders, absolute or relative to ``root`` (default: auto-detect).

    Returns:
        The samples plus the rows excluded with their reasons.

    Raises:
        DatasetError: missing root, sheet or frames folder, unreadable sheet, missing columns.
    """
    root = resolve_root(root, TITLE, EXPECTED)
    sheet_path = find_sheet(root, sheet, SHEET_PATTERNS, TITLE, NAME, stop=is_frames_root)
    table = read_sheet(sheet_path, CLIP_COLUMNS)
    frames_root, frames_note = find_frames_dir(root, frames_dir, is_frames_root, FRAMES_DIRS, TITLE, NAME, EXPECTED)
    # emotion (lower case) -> folder name as it is on disk
    emotion_dirs = {e.name.lower(): e.name for e in os.scandir(frames_root) if e.is_dir()}

    def locate(row: SheetRow) -> tuple[str, str, Path]:
        subject = f"S{subject_number(row['Subject'], prefixes=('s',)):02d}"
        clip = cell_text(row["Filename"])
        if not clip:
            raise ValueError("filename missing in the sheet")
        emotion = cell_text(row["Estimated Emotion"]).lower()
        return f"{NAME}/{subject}", clip, frames_root / emotion_dirs.get(emotion, emotion) / clip

    notes = [f"sheet: {sheet_path} (worksheet {table.worksheet!r}, header row {table.header_row})", frames_note]
    return scan_sheet(NAME, root, table, locate, notes)
