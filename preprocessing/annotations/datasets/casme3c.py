"""CAS(ME)^3 part C (micro-expressions elicited by a mock crime): sheet ``CAS(ME)3_part_C_ME.xlsx`` plus one
whole-video frame folder per subject, ``<frames>/spNO.N/color/<N>.jpg``.

ASSUMED, NOT CHECKED AGAINST THE REAL SHEET: the sheet's name is the one the release's public repository lists
(``annotation/CAS(ME)3_part_C_ME.xlsx``); its columns and the frames layout are guessed from part A and from the
authors' own scripts (``sub``, ``StartFrame``, ``EndFrame``), so every one has an option. Columns (found by name
in any worksheet): ``Subject`` (or ``sub``; ``spNO.216`` as written, a bare ``216`` -> ``spNO.216``: option
``subject_prefix``), ``Onset`` (or ``StartFrame``), ``Offset`` (or ``EndFrame``), ``emotion`` and, optional,
``Filename`` (the video; part C has one per subject, so a sheet without it reads ``<Subject>/`` itself),
``Apex`` (absent or blank: the clip has no apex, as SMIC's), ``AU``, ``Objective class`` (not read) and
``Expression type`` (only ``Micro-expression`` rows are read). Remap a column with ``subject_column``,
``clip_column``, ``onset_column``, ``apex_column``, ``offset_column``, ``emotion_column`` or ``au_column``; read
one worksheet only with ``worksheet``.

Clips are named ``<onset>`` (``<Filename>_<onset>`` where the sheet names the video) and keep their video's
frames from onset to offset, as in part A (``casme3.scan_videos``, shared). Videos live in
``<frames>/<Subject>/<Filename>/color/``, the ``color`` level optional and the video level absent without a
``Filename`` column (``depth/`` is not read); another layout is given with ``video_dir``, e.g.
``{subject}/rgb``. Frames folder found automatically: a folder holding ``spNO.*`` subject folders (``data/part_C/``
or ``ME_C/``), or pass ``frames_dir``. Emotions: part A's seven, spelt as part A's (``happiness`` -> ``happy``, ...).
"""

from __future__ import annotations

from pathlib import Path

from preprocessing.annotations.datasets import casme3
from preprocessing.annotations.datasets._columns import Release, SheetColumn
from preprocessing.annotations.sample import DatasetScan

NAME = "casme3c"
TITLE = "CAS(ME)^3 part C"
SHEET_PATTERNS = ("cas(me)3_part_C_ME*.xlsx", "*part_C*ME*.xlsx", "cas(me)3_part_C*.xlsx", "*mockcrime*ME*.xlsx")
FRAMES_DIRS = ("part_C", "ME_C", "part_C_split")
EXPECTED = ("the part_C folder holding annotation/CAS(ME)3_part_C_ME.xlsx and the frames "
            "data/part_C/spNO.N/color/<N>.jpg (one video per subject)")

COLUMNS = [
    SheetColumn("Subject", "Subject", ("sub", "participant"), option="subject_column"),
    SheetColumn("Filename", "Filename", ("seq", "sequence", "video"), required=False, option="clip_column"),
    SheetColumn("OnsetFrame", "Onset", ("onsetframe", "startframe", "start"), option="onset_column"),
    SheetColumn("ApexFrame", "Apex", ("apexframe",), required=False, option="apex_column"),
    SheetColumn("OffsetFrame", "Offset", ("offsetframe", "endframe", "end"), option="offset_column"),
    SheetColumn("Estimated Emotion", "emotion", ("estimatedemotion",), option="emotion_column"),
    SheetColumn("Action Units", "AU", ("aus", "actionunits"), required=False, option="au_column"),
    SheetColumn("Expression type", "Expression type", ("type",), required=False),
]

RELEASE = Release(NAME, TITLE, SHEET_PATTERNS, FRAMES_DIRS, EXPECTED, COLUMNS, casme3.EMOTION_SPELLINGS,
                  casme3.is_frames_root)


def scan(root: str | Path, *, sheet: str | Path | None = None, frames_dir: str | Path | None = None,
         worksheet: str = "", subject_prefix: str = casme3.SUBJECT_PREFIX, video_dir: str = "",
         subject_column: str = "", clip_column: str = "", onset_column: str = "", apex_column: str = "",
         offset_column: str = "", emotion_column: str = "", au_column: str = "") -> DatasetScan:
    """Read CAS(ME)^3 part C's micro-expressions under ``root`` into validated Samples.

    Args:
        root: the ``part_C`` folder (holding the sheet and the frames folder, up to two levels below).
        sheet: annotation sheet, absolute or relative to ``root`` (default: auto-detect).
        frames_dir: folder holding ``spNO.216/``, ... absolute or relative to ``root`` (default: auto-detect).
        worksheet: read only this worksheet (``""``: the first one with the columns).
        subject_prefix: a bare subject number N names the folder ``<subject_prefix>N`` (``""``: the number).
        video_dir: the video's folder below the frames folder, with ``{subject}`` and ``{video}`` fields
            (``""``: ``<subject>/<video>/color``, each level as present).
        subject_column, clip_column, onset_column, apex_column, offset_column, emotion_column, au_column: the
            header text of that column when your sheet does not use the assumed one (``""``: the assumed names).

    Raises:
        DatasetError: missing root, sheet or frames folder, unreadable sheet, missing columns, bad ``video_dir``.
    """
    return casme3.scan_videos(RELEASE, root, sheet, frames_dir, locals(), subject_prefix=subject_prefix,
                              video_dir=video_dir, worksheet=worksheet or None)
