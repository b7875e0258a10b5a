"""CASME (I): sheet ``casme.xlsx`` (or ``CASME*coding*.xlsx``) plus frames ``subNN/EPxx_y/<name><N>.jpg``.

Columns assumed (found by name anywhere in the first rows of any worksheet; blank header cells between them are
fine): ``Subject`` (``1`` or ``'01'`` -> ``casme/sub01``, folder ``sub01``), ``Filename`` (the clip folder,
``EP01_5``), ``OnsetF``, ``ApexF1`` (``ApexF2``, a second apex, is not read), ``OffsetF``, ``Emotion`` and,
optional, ``Action Units`` / ``AU``. ``OnsetFrame`` / ``ApexFrame`` / ``OffsetFrame`` / ``Estimated Emotion``
are accepted too. Remap a column your copy names otherwise with ``subject_column``, ``clip_column``,
``onset_column``, ``apex_column``, ``offset_column``, ``emotion_column`` or ``au_column``.

Label fixes: emotions are lower-cased and their spellings unified (``happy`` -> ``happiness``, ``sad`` ->
``sadness``, ``tension`` -> ``tense``, ...); an apex written ``/`` or left blank is kept as ``None`` (the
protocols exclude such clips, as for CASME II). Rows whose numbers do not match the frames on disk are excluded
with their reason, not corrected: a copy of the sheet with known errors fixed can be given with ``sheet``.

Frames folder found automatically: ``CASME_raw_selected/`` (preferred), ``CASME_RAW/``, ``Cropped/``, or the
subject folders directly in the root (or pass ``frames_dir``). The frame number is the last run of digits in a
file's name.
"""

from __future__ import annotations

import re
from pathlib import Path

from preprocessing.annotations.datasets._columns import Release, SheetColumn, open_release
from preprocessing.annotations.datasets._common import has_child_dir, scan_sheet
from preprocessing.annotations.sample import DatasetScan
from preprocessing.annotations.sheets import SheetRow, cell_text, subject_number

NAME = "casme"
TITLE = "CASME"
SHEET_PATTERNS = ("casme.xlsx", "CASME-coding*.xlsx", "CASME_coding*.xlsx", "CASME1*.xlsx", "CASME_[AB]*.xlsx",
                  "CASME I*.xlsx")
FRAMES_DIRS = ("CASME_raw_selected", "CASME_RAW_selected", "CASME_RAW", "CASME_raw", "Cropped")
EXPECTED = "a folder holding the coding sheet (casme.xlsx) and the frames sub01/EP01_5/*.jpg (e.g. CASME_raw_selected/)"

COLUMNS = [
    SheetColumn("Subject", "Subject", ("subject",), option="subject_column"),
    SheetColumn("Filename", "Filename", ("filename",), option="clip_column"),
    SheetColumn("OnsetFrame", "OnsetF", ("onsetframe", "onset"), option="onset_column"),
    SheetColumn("ApexFrame", "ApexF1", ("apexf", "apexframe", "apex"), option="apex_column"),
    SheetColumn("OffsetFrame", "OffsetF", ("offsetframe", "offset"), option="offset_column"),
    SheetColumn("Estimated Emotion", "Emotion", ("estimatedemotion",), option="emotion_column"),
    SheetColumn("Action Units", "Action Units", ("actionunits", "aus", "au"), required=False, option="au_column"),
]

# Spelling variants -> the vocabulary the protocols map (preprocessing/annotations/protocols.py).
EMOTION_SPELLINGS = {"happy": "happiness", "sad": "sadness", "surprised": "surprise", "disgusted": "disgust",
                     "fearful": "fear", "tension": "tense", "repressed": "repression", "other": "others",
                     "contemptuous": "contempt"}

_SUBJECT_DIR = re.compile(r"sub\d+", re.IGNORECASE)


def is_frames_root(folder: Path) -> bool:
    """Whether ``folder`` holds CASME subject folders (``sub01``, ...) and is not a CASME II release folder."""
    return "casme2" not in folder.name.lower() and has_child_dir(
        folder, lambda name: _SUBJECT_DIR.fullmatch(name) is not None)


RELEASE = Release(NAME, TITLE, SHEET_PATTERNS, FRAMES_DIRS, EXPECTED, COLUMNS, EMOTION_SPELLINGS, is_frames_root)


def scan(root: str | Path, *, sheet: str | Path | None = None, frames_dir: str | Path | None = None,
         subject_column: str = "", clip_column: str = "", onset_column: str = "", apex_column: str = "",
         offset_column: str = "", emotion_column: str = "", au_column: str = "") -> DatasetScan:
    """Read CASME (I) under ``root`` into validated Samples (every sheet row; protocols select later).

    Args:
        root: dataset root (the folder holding the sheet and the frames folder).
        sheet: annotation sheet, absolute or relative to ``root`` (default: auto-detect).
        frames_dir: folder holding ``sub01/``, ... absolute or relative to ``root`` (default: auto-detect).
        subject_column, clip_column, onset_column, apex_column, offset_column, emotion_column, au_column: the
            header text of that column when your sheet does not use the release's (``""``: the release's names).

    Raises:
        DatasetError: missing root, sheet or frames folder, unreadable sheet, missing columns.
    """
    opened = open_release(RELEASE, root, sheet, frames_dir, locals())

    def locate(row: SheetRow) -> tuple[str, str, Path]:
        folder = f"sub{subject_number(row['Subject'], prefixes=('sub',)):02d}"
        clip = cell_text(row["Filename"])
        if not clip:
            raise ValueError("filename missing in the sheet")
        return f"{NAME}/{folder}", clip, opened.frames_root / folder / clip

    return scan_sheet(NAME, opened.root, opened.table, locate, opened.notes)
