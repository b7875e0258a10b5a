"""Readers of the long-video coding sheets: CAS(ME)^2 (``CAS(ME)^2code_final.xlsx``) and SAMM Long Videos
(``SAMM_LongVideos_V1_Release.xlsx``), into videos and annotated intervals.

The real sheets are licensed and not in this repository; the layouts below are the ones the public readers of
these files use (the MEGC spotting baselines' evaluation scripts, SoftNet-SpotME's and MEAN's ``load_excel``).
Every column position / name is an option (``CasmeLayout`` / ``SammLayout``), so a differently laid out copy is
read by passing the mapping, not by editing code.

CAS(ME)^2 (30 fps; frames ``rawpic/sNN/<video>/img<N>.jpg``, numbered from 1). No header rows.

- sheet ``CASMEcode_final``, one row per interval, columns by position (0-based):
  0 subject number (the one ``naming rule1`` maps to a folder), 1 clip name ``<expression name>_<k>`` (e.g.
  ``disgust1_1``: the k-th expression coded in that video), 2 onset, 3 apex, 4 offset (0 = not coded: the MEGC
  scripts then use ``2 * apex - onset``, done here and noted), 5 action units, 6 emotion (positive, negative,
  surprise, others), 7 type (``micro-expression`` / ``macro-expression``), 8 the subject's self-report (unused);
- sheet ``naming rule1``: 0 the rawpic folder number (``15`` -> ``s15``), 2 the subject number of
  ``CASMEcode_final`` (column 1 is a second id, unused);
- sheet ``naming rule2``: 0 the 4-digit video code (``0101``; a number cell ``101`` is zero-padded), 1 the
  expression name the clip names start with (``disgust1``); further columns unused.
- the video folder is the one in ``rawpic/sNN/`` whose name starts ``NN_<code>`` (``15_0101disgustingteeth``).

SAMM Long Videos (200 fps; frames ``SAMM_longvideos/<video>/<video>_<NNNN>.jpg``, the number in the name is the
frame number). One sheet, ``FACS_Movement_Only``, with a preamble above a header row (found by its names; the
MEGC script reads from row 11): ``Subject``, ``Filename`` (``006_1_2``: the video ``006_1`` plus the interval's
index), ``Inducement Code``, ``Onset``, ``Apex`` (-1 = not coded), ``Offset``, ``Duration``, ``Type`` (``Micro -
1/2`` / ``Macro``), ``Action Units``, ``Notes``; an emotion column exists only in later releases (give its name
in ``SammLayout.emotion``).

Bad rows never stop a read: an interval whose frames run past the video's last frame, an offset before the onset,
an unreadable number, an unknown type or a video folder that is not there becomes a ``Skip`` (file, sheet row,
the interval, the reason and what was expected). A missing sheet or header is a ``DatasetError`` naming the file
and the sheet: nothing could be read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from preprocessing.annotations.sample import DatasetError
from preprocessing.annotations.sheets import normalise_header

CASME2_FPS = 30
SAMM_FPS = 200
_NUMBER = re.compile(r"(\d+)(?=\.[A-Za-z]+$)")


@dataclass(frozen=True)
class CasmeLayout:
    """Where CAS(ME)^2's values are: sheet names and 0-based column positions."""

    codes_sheet: str = "CASMEcode_final"
    subjects_sheet: str = "naming rule1"
    videos_sheet: str = "naming rule2"
    subject: int = 0
    clip: int = 1
    onset: int = 2
    apex: int = 3
    offset: int = 4
    action_units: int = 5
    emotion: int = 6
    kind: int = 7
    folder_number: int = 0  # in the subjects sheet
    subject_number: int = 2  # in the subjects sheet
    video_code: int = 0  # in the videos sheet
    expression_name: int = 1  # in the videos sheet
    frames_dir: str = "rawpic"
    fps: float = CASME2_FPS


@dataclass(frozen=True)
class SammLayout:
    """Where SAMM Long Videos' values are: sheet name and header names (matched ignoring case and spaces)."""

    sheet: str = "FACS_Movement_Only"
    subject: str = "Subject"
    video: str = "Filename"
    onset: str = "Onset"
    apex: str = "Apex"
    offset: str = "Offset"
    kind: str = "Type"
    action_units: str = "Action Units"
    emotion: str | None = None  # e.g. "Estimated Emotion" in releases that have one
    frames_dir: str = "SAMM_longvideos"
    fps: float = SAMM_FPS
    header_search_rows: int = 40


@dataclass(frozen=True)
class AnnotatedInterval:
    """One coded interval of a long video (frame numbers are the video's own)."""

    subject: str  # the subject folder / id, e.g. "s15" or "006"
    video: str  # the video folder name
    onset: int
    apex: int | None
    offset: int
    kind: str  # "micro" or "macro"
    action_units: str
    emotion: str | None
    row: int  # 1-based sheet row
    note: str = ""  # e.g. the offset was estimated


@dataclass(frozen=True)
class Skip:
    """A sheet row that was not used, and why."""

    file: str
    row: int
    interval: str  # e.g. "s15/15_0101disgustingteeth [120, 160]"
    reason: str
    expected: str

    def __str__(self) -> str:
        return f"{self.file} row {self.row}: {self.interval}: {self.reason} (expected {self.expected})"


@dataclass
class LongVideos:
    """What a sheet gives: the videos (frame folder and count), their intervals and the rows skipped."""

    dataset: str
    fps: float
    videos: dict[str, dict] = field(default_factory=dict)  # "subject/video" -> {"subject", "video", "folder", ...}
    intervals: list[AnnotatedInterval] = field(default_factory=list)
    skips: list[Skip] = field(default_factory=list)

    def by_video(self) -> dict[str, list[AnnotatedInterval]]:
        out: dict[str, list[AnnotatedInterval]] = {key: [] for key in self.videos}
        for interval in self.intervals:
            out.setdefault(f"{interval.subject}/{interval.video}", []).append(interval)
        return out


def _workbook(path: Path):
    from openpyxl import load_workbook

    if not path.is_file():
        raise DatasetError(f"{path}: the coding sheet is missing")
    try:
        return load_workbook(path, read_only=True, data_only=True)
    except Exception as error:  # openpyxl raises several kinds for a damaged file
        raise DatasetError(f"{path}: not a readable .xlsx workbook ({type(error).__name__}: {error})") from error


def _sheet(workbook, path: Path, name: str):
    if name not in workbook.sheetnames:
        raise DatasetError(f"{path}: sheet {name!r} is missing (sheets: {workbook.sheetnames}); give the sheet's "
                           "name in the layout option if this copy names it differently")
    return workbook[name]


def _int(value: Any) -> int | None:
    """An integer cell (int, integral float or digit text); None when blank or not a number."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else None
    text = str(value).strip()
    if re.fullmatch(r"-?\d+(\.0+)?", text):
        return int(float(text))
    return None


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _kind(value: Any) -> str | None:
    text = _text(value).lower()
    if text.startswith("micro"):
        return "micro"
    if text.startswith("macro"):
        return "macro"
    return None


def frame_numbers(folder: Path) -> list[int]:
    """The frame numbers of a video folder's images (the digits before the extension), sorted."""
    return sorted(int(m.group(1)) for p in folder.iterdir()
                  if (m := _NUMBER.search(p.name)) and p.suffix.lower() in (".jpg", ".jpeg", ".png", ".bmp"))


def _check(out: LongVideos, file: str, row: int, key: str, onset: int | None, apex: int | None,
           offset: int | None) -> str | None:
    """The reason an interval is unusable (None when fine); frames are checked when the video was found."""
    if onset is None or offset is None:
        return "onset or offset is not a frame number"
    if offset < onset:
        return f"offset {offset} is before onset {onset}"
    video = out.videos.get(key)
    if video is not None and video.get("last_frame") is not None:
        first, last = video["first_frame"], video["last_frame"]
        if onset < first or offset > last:
            return f"frames {onset}..{offset} run past the video's frames {first}..{last}"
    if apex is not None and not onset <= apex <= offset:
        return f"apex {apex} outside onset..offset"
    return None


def _skip(out: LongVideos, file: str, row: int, key: str, onset, offset, reason: str, expected: str) -> None:
    out.skips.append(Skip(file=file, row=row, interval=f"{key} [{onset}, {offset}]", reason=reason,
                          expected=expected))


def _video(out: LongVideos, key: str, subject: str, name: str, folder: Path | None) -> None:
    if key in out.videos:
        return
    info = {"subject": subject, "video": name, "folder": str(folder) if folder else None, "first_frame": None,
            "last_frame": None, "n_frames": None}
    if folder is not None and folder.is_dir():
        numbers = frame_numbers(folder)
        if numbers:
            info.update(first_frame=numbers[0], last_frame=numbers[-1], n_frames=len(numbers))
    out.videos[key] = info


def read_casme2_long(sheet: str | Path, root: str | Path | None = None,
                     layout: CasmeLayout | None = None) -> LongVideos:
    """Read CAS(ME)^2's coding workbook (see the module docstring for the columns).

    Args:
        sheet: ``CAS(ME)^2code_final.xlsx``.
        root: the dataset root holding ``rawpic/`` (default: the sheet's folder); frames are counted to check
            every interval against its video's length; intervals of a video whose folder is absent are skipped
            with that reason.
        layout: sheet names and column positions.

    Raises:
        DatasetError: the workbook or one of its three sheets is missing or unreadable.
    """
    layout = layout or CasmeLayout()
    path = Path(sheet)
    root = Path(root) if root is not None else path.parent
    workbook = _workbook(path)
    try:
        codes = list(_sheet(workbook, path, layout.codes_sheet).iter_rows(values_only=True))
        subjects = list(_sheet(workbook, path, layout.subjects_sheet).iter_rows(values_only=True))
        videos = list(_sheet(workbook, path, layout.videos_sheet).iter_rows(values_only=True))
    finally:
        workbook.close()
    out = LongVideos(dataset="casme2_long", fps=layout.fps)

    def cell(row: tuple, index: int) -> Any:
        return row[index] if index < len(row) else None

    folder_of = {}  # code_final subject number -> folder number
    for row in subjects:
        number, folder = _int(cell(row, layout.subject_number)), _int(cell(row, layout.folder_number))
        if number is not None and folder is not None:
            folder_of[number] = folder
    code_of = {}  # expression name -> 4-digit video code
    for row in videos:
        code, name = cell(row, layout.video_code), _text(cell(row, layout.expression_name))
        code_text = f"{code:04d}" if isinstance(code, int) else (
            f"{int(code):04d}" if isinstance(code, float) else _text(code))
        if name and re.fullmatch(r"\d{1,4}", code_text):
            code_of[name] = code_text.zfill(4)
    file = path.name
    for index, row in enumerate(codes, start=1):
        subject_number = _int(cell(row, layout.subject))
        clip = _text(cell(row, layout.clip))
        if subject_number is None and not clip:
            continue  # blank or header-like row
        onset, apex, offset = (_int(cell(row, c)) for c in (layout.onset, layout.apex, layout.offset))
        note = ""
        if offset == 0 and onset is not None and apex is not None:
            offset, note = 2 * apex - onset, "offset not coded (0): 2 * apex - onset, as the MEGC scripts do"
        expression = clip.rsplit("_", 1)[0] if "_" in clip else clip
        folder_number = folder_of.get(subject_number)
        code = code_of.get(expression)
        if folder_number is None or code is None:
            missing = (f"subject {subject_number} in {layout.subjects_sheet!r}" if folder_number is None
                       else f"expression {expression!r} in {layout.videos_sheet!r}")
            _skip(out, file, index, f"subject {subject_number} / {clip}", onset, offset, f"no {missing}",
                  "every coded row's subject and expression named in the naming sheets")
            continue
        subject = f"s{folder_number}"
        subject_dir = root / layout.frames_dir / subject
        prefix = f"{folder_number}_{code}"
        found = sorted(p for p in subject_dir.iterdir() if p.is_dir() and p.name.startswith(prefix)) \
            if subject_dir.is_dir() else []
        name = found[0].name if found else prefix
        key = f"{subject}/{name}"
        if not found:
            _skip(out, file, index, key, onset, offset, f"no video folder {subject_dir / prefix}*",
                  f"the frames under {layout.frames_dir}/{subject}/{prefix}<description>/")
            continue
        _video(out, key, subject, name, found[0])
        kind = _kind(cell(row, layout.kind))
        if kind is None:
            _skip(out, file, index, key, onset, offset, f"type {_text(cell(row, layout.kind))!r}",
                  "micro-expression or macro-expression")
            continue
        reason = _check(out, file, index, key, onset, apex, offset)
        if reason:
            _skip(out, file, index, key, onset, offset, reason,
                  "onset <= apex <= offset within the video's frames")
            continue
        out.intervals.append(AnnotatedInterval(
            subject=subject, video=name, onset=onset, apex=apex, offset=offset, kind=kind,
            action_units=_text(cell(row, layout.action_units)), emotion=_text(cell(row, layout.emotion)) or None,
            row=index, note=note))
    return out


def read_samm_long(sheet: str | Path, root: str | Path | None = None, layout: SammLayout | None = None) -> LongVideos:
    """Read SAMM Long Videos' coding workbook (see the module docstring for the columns).

    Args:
        sheet: ``SAMM_LongVideos_V1_Release.xlsx``.
        root: the dataset root holding ``SAMM_longvideos/`` (default: the sheet's folder).
        layout: sheet name and header names.

    Raises:
        DatasetError: the workbook, its sheet or a required header (subject, video, onset, offset, type) is missing.
    """
    layout = layout or SammLayout()
    path = Path(sheet)
    root = Path(root) if root is not None else path.parent
    workbook = _workbook(path)
    try:
        rows = list(_sheet(workbook, path, layout.sheet).iter_rows(values_only=True))
    finally:
        workbook.close()
    wanted = {"subject": layout.subject, "video": layout.video, "onset": layout.onset, "apex": layout.apex,
              "offset": layout.offset, "kind": layout.kind, "action_units": layout.action_units,
              "emotion": layout.emotion}
    required = ("subject", "video", "onset", "offset", "kind")
    header_row, columns = None, {}
    for number, row in enumerate(rows[: layout.header_search_rows], start=1):
        texts = [normalise_header(v) for v in row]
        found = {key: texts.index(normalise_header(name)) for key, name in wanted.items()
                 if name and normalise_header(name) in texts}
        if all(key in found for key in required):
            header_row, columns = number, found
            break
    if header_row is None:
        names = ", ".join(repr(wanted[k]) for k in required)
        raise DatasetError(f"{path}: sheet {layout.sheet!r} has no header row with {names} in its first "
                           f"{layout.header_search_rows} rows; map the columns with SammLayout if they are named "
                           "differently")
    out = LongVideos(dataset="samm_long", fps=layout.fps)
    file = path.name

    def get(row: tuple, key: str) -> Any:
        index = columns.get(key)
        return row[index] if index is not None and index < len(row) else None

    for number, row in enumerate(rows[header_row:], start=header_row + 1):
        filename = _text(get(row, "video"))
        if not filename:
            continue
        video = filename.rsplit("_", 1)[0] if filename.count("_") >= 2 else filename
        subject = _text(get(row, "subject")).zfill(3) or video.split("_")[0]
        onset, apex, offset = (_int(get(row, k)) for k in ("onset", "apex", "offset"))
        if apex is not None and apex < 0:
            apex = None  # -1: not coded
        key = f"{subject}/{video}"
        folder = root / layout.frames_dir / video
        if not folder.is_dir():
            _skip(out, file, number, key, onset, offset, f"no video folder {folder}",
                  f"the frames under {layout.frames_dir}/{video}/")
            continue
        _video(out, key, subject, video, folder)
        kind = _kind(get(row, "kind"))
        if kind is None:
            _skip(out, file, number, key, onset, offset, f"type {_text(get(row, 'kind'))!r}", "Micro - 1/2 or Macro")
            continue
        reason = _check(out, file, number, key, onset, apex, offset)
        if reason:
            _skip(out, file, number, key, onset, offset, reason, "onset <= apex <= offset within the video's frames")
            continue
        out.intervals.append(AnnotatedInterval(
            subject=subject, video=video, onset=onset, apex=apex, offset=offset, kind=kind,
            action_units=_text(get(row, "action_units")), emotion=_text(get(row, "emotion")) or None, row=number))
    return out
