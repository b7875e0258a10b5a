"""4DME (micro-expressions): sheet ``4DME_Labelling_Micro_release v1.xlsx`` plus grey frames
``gray_micro/<sub_ID>/<fold_name>/<name><N>.jpg``.

Columns assumed (found by name): ``sub_ID`` (the subject folder, kept as written: ``S01`` -> ``fourdme/S01``),
``fold_name`` (the clip folder), ``Onset``, ``Apex``, ``Offset``, ``Emotion`` and, optional, ``AUs``. The sheet's
one-hot emotion columns (``Positive``, ``Negative``, ...) are not read. Remap a column your copy names otherwise
with ``subject_column``, ``clip_column``, ``onset_column``, ``apex_column``, ``offset_column``, ``emotion_column``
or ``au_column``.

Label fixes: the five emotion categories (positive, negative, surprise, repression, others) are lower-cased and
their spellings unified (``other`` -> ``others``, ``surprised`` -> ``surprise``); a cell naming several
categories (``Negative+Surprise``, ``negative, surprise``) becomes ``negative+surprise`` and the protocols
exclude it as "several emotions". AU codes are kept as written (``AU4(k)`` tokens, which the AU targets ignore,
included). Frames folder found automatically: ``gray_micro/`` (preferred), ``gray_micro_crop/`` (or pass
``frames_dir``).
"""

from __future__ import annotations

import re
from pathlib import Path

from preprocessing.annotations.datasets._columns import Release, SheetColumn, open_release
from preprocessing.annotations.datasets._common import scan_sheet
from preprocessing.annotations.sample import DatasetScan
from preprocessing.annotations.sheets import Sheet, SheetRow, cell_text

NAME = "fourdme"
TITLE = "4DME"
SHEET_PATTERNS = ("4DME_Labelling_Micro_release*.xlsx", "4DME*Micro*.xlsx", "4DME*.xlsx")
FRAMES_DIRS = ("gray_micro", "gray_micro_crop", "grey_micro", "gray_micro_cropped")
EXPECTED = "a folder holding 4DME_Labelling_Micro_release v1.xlsx and the frames gray_micro/<sub_ID>/<fold_name>/"

COLUMNS = [
    SheetColumn("Subject", "sub_ID", ("subid", "subject"), option="subject_column"),
    SheetColumn("Filename", "fold_name", ("foldname", "filename"), option="clip_column"),
    SheetColumn("OnsetFrame", "Onset", ("onsetframe",), option="onset_column"),
    SheetColumn("ApexFrame", "Apex", ("apexframe",), option="apex_column"),
    SheetColumn("OffsetFrame", "Offset", ("offsetframe",), option="offset_column"),
    SheetColumn("Estimated Emotion", "Emotion", ("estimatedemotion",), option="emotion_column"),
    SheetColumn("Action Units", "AUs", ("actionunits", "au"), required=False, option="au_column"),
]

EMOTION_SPELLINGS = {"other": "others", "surprised": "surprise", "postive": "positive", "negtive": "negative",
                     "repressed": "repression"}
_SEPARATORS = re.compile(r"\s*[+,;/&]\s*|\s+and\s+")


def is_frames_root(folder: Path) -> bool:
    """Whether ``folder`` is one of the release's frames folders (``gray_micro``, ...)."""
    return folder.name.lower() in {name.lower() for name in FRAMES_DIRS}


RELEASE = Release(NAME, TITLE, SHEET_PATTERNS, FRAMES_DIRS, EXPECTED, COLUMNS, EMOTION_SPELLINGS, is_frames_root)


def _join_categories(sheet: Sheet) -> Sheet:
    """A cell naming several categories -> ``a+b`` (sorted, each spelling unified), so the protocols see one text."""
    rows = []
    for row in sheet.rows:
        parts = [p for p in _SEPARATORS.split(cell_text(row["Estimated Emotion"]).lower()) if p]
        parts = sorted({EMOTION_SPELLINGS.get(p, p) for p in parts})
        rows.append(SheetRow(row.number, {**row.cells, "Estimated Emotion": "+".join(parts)}))
    return Sheet(sheet.path, sheet.worksheet, sheet.header_row, rows)


def scan(root: str | Path, *, sheet: str | Path | None = None, frames_dir: str | Path | None = None,
         subject_column: str = "", clip_column: str = "", onset_column: str = "", apex_column: str = "",
         offset_column: str = "", emotion_column: str = "", au_column: str = "") -> DatasetScan:
    """Read 4DME's micro-expressions under ``root`` into validated Samples.

    Args:
        root: dataset root (the folder holding the sheet and ``gray_micro/``).
        sheet: annotation sheet, absolute or relative to ``root`` (default: auto-detect).
        frames_dir: folder holding the subject folders, absolute or relative to ``root`` (default: auto-detect).
        subject_column, clip_column, onset_column, apex_column, offset_column, emotion_column, au_column: the
            header text of that column when your sheet does not use the release's (``""``: the release's names).

    Raises:
        DatasetError: missing root, sheet or frames folder, unreadable sheet, missing columns.
    """
    opened = open_release(RELEASE, root, sheet, frames_dir, locals())

    def locate(row: SheetRow) -> tuple[str, str, Path]:
        subject, clip = cell_text(row["Subject"]), cell_text(row["Filename"])
        if not subject:
            raise ValueError("subject missing in the sheet")
        if not clip:
            raise ValueError("filename missing in the sheet")
        return f"{NAME}/{subject}", clip, opened.frames_root / subject / clip

    return scan_sheet(NAME, opened.root, _join_categories(opened.table), locate, opened.notes)
