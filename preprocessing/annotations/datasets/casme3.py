"""CAS(ME)^3 part A (micro-expressions): sheet ``cas(me)3_part_A_ME_label_JpgIndex_v2.xlsx`` plus whole-video frame
folders ``<frames>/spNO.1/a/color/<N>.jpg``.

Give the ``part_A`` folder as the root (it holds ``annotation/`` and ``data/part_A/``). Columns assumed (found by
name, in any worksheet: the release's is ``label``): ``Subject`` (``spNO.1``; a bare ``1`` is read as
``spNO.1``), ``Filename`` (the video: ``a``, ``b``, ...), ``Onset``, ``Apex``, ``Offset``, ``emotion`` and,
optional, ``AU`` (``4,7`` or ``L12+R12``: kept as written), ``Objective class`` (not read) and ``Expression type``
(where present, only ``Micro-expression`` rows are read; the other rows are counted in the notes). Remap a column
your copy names otherwise with ``subject_column``, ``clip_column``, ``onset_column``, ``apex_column``,
``offset_column``, ``emotion_column`` or ``au_column``.

Several micro-expressions come from one video, so a clip is named ``<Filename>_<Onset>`` (``a_1234``,
``casme3/spNO.1/a_1234``) and its frames are the video folder's frames from onset to offset (the folder holds the
whole video; dropped frames in between are tolerated, the onset / apex / offset frames must exist). Videos live in
``<frames>/<Subject>/<Filename>/color/`` (the ``color`` level may be absent; ``depth/`` is not read).

Label fixes: the seven emotions (happy, disgust, surprise, fear, anger, sad, others) are lower-cased and their
spellings unified (``happiness`` -> ``happy``, ``sadness`` -> ``sad``, ``other`` -> ``others``, ``angry`` ->
``anger``, ...). Rows whose numbers do not match the frames are excluded with their reason, not corrected.
Frames folder found automatically: a folder holding ``spNO.*`` subject folders (``data/part_A/``, or the
``ME_A/`` extraction), or pass ``frames_dir``. Part C (``casme3c``) is read by the same :func:`scan_videos`.
"""

from __future__ import annotations

import dataclasses
import re
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from preprocessing.annotations.datasets._columns import Release, SheetColumn, open_release
from preprocessing.annotations.datasets._common import has_child_dir, scan_sheet
from preprocessing.annotations.sample import DatasetError, DatasetScan, Sample
from preprocessing.annotations.sheets import Sheet, SheetRow, cell_text, parse_frame

NAME = "casme3"
TITLE = "CAS(ME)^3 part A"
SHEET_PATTERNS = ("cas(me)3_part_A_ME_label_JpgIndex*.xlsx", "cas(me)3_part_A_ME_label*.xlsx",
                  "*part_A*ME*label*.xlsx", "cas(me)3_part_A*.xlsx")
FRAMES_DIRS = ("part_A", "ME_A", "part_A_split")
EXPECTED = ("the part_A folder holding annotation/cas(me)3_part_A_ME_label_JpgIndex_v2.xlsx and the frames "
            "data/part_A/spNO.1/a/color/<N>.jpg")
COLOR_DIR = "color"
MICRO = "micro-expression"

COLUMNS = [
    SheetColumn("Subject", "Subject", ("sub",), option="subject_column"),
    SheetColumn("Filename", "Filename", ("seq", "video"), option="clip_column"),
    SheetColumn("OnsetFrame", "Onset", ("onsetframe",), option="onset_column"),
    SheetColumn("ApexFrame", "Apex", ("apexframe",), option="apex_column"),
    SheetColumn("OffsetFrame", "Offset", ("offsetframe",), option="offset_column"),
    SheetColumn("Estimated Emotion", "emotion", ("estimatedemotion",), option="emotion_column"),
    SheetColumn("Action Units", "AU", ("aus", "actionunits"), required=False, option="au_column"),
    SheetColumn("Expression type", "Expression type", ("type",), required=False),
]

EMOTION_SPELLINGS = {"happiness": "happy", "sadness": "sad", "surprised": "surprise", "other": "others",
                     "angry": "anger", "disgusted": "disgust", "fearful": "fear"}

_SUBJECT_DIR = re.compile(r"sp\s*no\.?\s*\d+", re.IGNORECASE)


def is_frames_root(folder: Path) -> bool:
    """Whether ``folder`` holds CAS(ME)^3 subject folders (``spNO.1``, ...)."""
    return has_child_dir(folder, lambda name: _SUBJECT_DIR.fullmatch(name) is not None)


RELEASE = Release(NAME, TITLE, SHEET_PATTERNS, FRAMES_DIRS, EXPECTED, COLUMNS, EMOTION_SPELLINGS, is_frames_root)
SUBJECT_PREFIX = "spNO."  # a bare subject number N names the folder spNO.N


def subject_folder(value, prefix: str = SUBJECT_PREFIX) -> str:
    """The subject cell as its folder name: ``'spNO.1'`` as written, a bare ``1`` / ``'1'`` -> ``prefix + '1'``.

    Raises:
        ValueError: an empty cell.
    """
    text = cell_text(value)
    if not text:
        raise ValueError("subject missing in the sheet")
    return f"{prefix}{int(text)}" if text.isdigit() else text


def video_folder(frames_root: Path, subject: str, video: str, template: str = "") -> Path:
    """The folder of a video's frames: ``template`` filled in (``{subject}``, ``{video}``) when given, else
    ``<subject>/<video>/color`` when the release has the ``color`` level, else ``<subject>/<video>`` (``video``
    blank: the subject's one video, ``<subject>/color`` or ``<subject>``)."""
    if template:
        return frames_root / template.format(subject=subject, video=video)
    folder = frames_root / subject / video
    return folder / COLOR_DIR if (folder / COLOR_DIR).is_dir() else folder


def check_template(template: str, dataset: str) -> None:
    """Refuse a ``video_dir`` template that names a field other than ``{subject}`` and ``{video}``.

    Raises:
        DatasetError: a malformed template or an unknown field.
    """
    try:
        template.format(subject="s", video="v")
    except (KeyError, IndexError, ValueError) as exc:
        raise DatasetError(f"--dataset-option {dataset}.video_dir={template!r}: expected a folder below the frames "
                           f"folder with {{subject}} and {{video}} fields, e.g. {{subject}}/{{video}}/color "
                           f"({type(exc).__name__}: {exc})") from None


def micro_rows(sheet: Sheet) -> tuple[Sheet, str]:
    """Keep the micro-expression rows of a sheet with an ``Expression type`` column (all rows without one)."""
    kinds = Counter(cell_text(row["Expression type"]).lower() for row in sheet.rows)
    if set(kinds) <= {""}:
        return sheet, ""
    kept = [row for row in sheet.rows if cell_text(row["Expression type"]).lower() in (MICRO, "")]
    others = ", ".join(f"{kind or 'blank'} {n}" for kind, n in sorted(kinds.items()) if kind not in (MICRO, ""))
    return Sheet(sheet.path, sheet.worksheet, sheet.header_row, kept), f"rows not read (Expression type): {others}"


def trim_to_clip(sample: Sample) -> Sample:
    """The sample with only its onset..offset frames (the folder holds the whole video)."""
    keep = [i for i, n in enumerate(sample.frame_numbers) if sample.onset <= n <= sample.offset]
    return dataclasses.replace(sample, frames=tuple(sample.frames[i] for i in keep),
                               frame_numbers=tuple(sample.frame_numbers[i] for i in keep))


def scan(root: str | Path, *, sheet: str | Path | None = None, frames_dir: str | Path | None = None,
         subject_column: str = "", clip_column: str = "", onset_column: str = "", apex_column: str = "",
         offset_column: str = "", emotion_column: str = "", au_column: str = "") -> DatasetScan:
    """Read CAS(ME)^3 part A's micro-expressions under ``root`` into validated Samples.

    Args:
        root: the ``part_A`` folder (holding the sheet and the frames folder, up to two levels below).
        sheet: annotation sheet, absolute or relative to ``root`` (default: auto-detect).
        frames_dir: folder holding ``spNO.1/``, ... absolute or relative to ``root`` (default: auto-detect).
        subject_column, clip_column, onset_column, apex_column, offset_column, emotion_column, au_column: the
            header text of that column when your sheet does not use the release's (``""``: the release's names).

    Raises:
        DatasetError: missing root, sheet or frames folder, unreadable sheet, missing columns.
    """
    return scan_videos(RELEASE, root, sheet, frames_dir, locals())


def scan_videos(release: Release, root: str | Path, sheet: str | Path | None, frames_dir: str | Path | None,
                options: Mapping[str, Any], *, subject_prefix: str = SUBJECT_PREFIX, video_dir: str = "",
                worksheet: str | None = None) -> DatasetScan:
    """Read a CAS(ME)^3 part's micro-expressions from whole-video folders (``scan`` of parts A and C).

    A clip is named ``<video>_<onset>`` (``<onset>`` where the sheet names no video: the subject's one video) and
    keeps the video folder's frames from onset to offset. A blank video cell is refused where the release's video
    column is required.

    Args:
        release: the part's release.
        root, sheet, frames_dir: the adapter's ``scan`` arguments.
        options: the ``*_column`` options by name (``open_release``).
        subject_prefix: a bare subject number N names the folder ``<subject_prefix>N``.
        video_dir: the video folder below the frames folder, with ``{subject}`` and ``{video}`` fields
            (``""``: ``video_folder``'s search).
        worksheet: read only this worksheet.

    Raises:
        DatasetError: missing root, sheet or frames folder, unreadable sheet, missing columns, bad ``video_dir``.
    """
    check_template(video_dir, release.name)
    opened = open_release(release, root, sheet, frames_dir, options, select=micro_rows, worksheet=worksheet)
    video_required = any(column.key == "Filename" and column.required for column in release.columns)

    def locate(row: SheetRow) -> tuple[str, str, Path]:
        subject = subject_folder(row["Subject"], subject_prefix)
        video = cell_text(row["Filename"])
        if not video and video_required:
            raise ValueError("filename missing in the sheet")
        onset = parse_frame(row["OnsetFrame"], "onset")
        clip = "_".join(part for part in (video, "" if onset is None else str(onset)) if part) or f"row{row.number}"
        return f"{release.name}/{subject}", clip, video_folder(opened.frames_root, subject, video, video_dir)

    found = scan_sheet(release.name, opened.root, opened.table, locate, opened.notes)
    found.samples = [trim_to_clip(s) for s in found.samples]
    return found
