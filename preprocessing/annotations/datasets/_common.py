"""Plumbing shared by the adapters: find the root, sheet and frames folder; turn sheet rows into Samples.

Exclusion reasons follow one convention: ``"<cause>: <detail>"``. The cause (text before the first colon) is
the same for every clip excluded for the same reason, so summaries can group by it; the detail names the clip's
numbers. The folder or file concerned goes in ``Exclusion.path``.
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from preprocessing.annotations.frames import FrameError, list_frames, natural_key
from preprocessing.annotations.sample import DatasetError, DatasetScan, Exclusion, Sample
from preprocessing.annotations.sheets import Column, Sheet, SheetRow, cell_text, parse_frame

# How deep below the dataset root to look for the sheet and the frames folder
# (root/, root/CASME2_RAW_selected/, root/SMIC_all_raw/HS/).
SEARCH_DEPTH = 2

# The columns CASME II, SAMM and MMEW share (their header texts differ only in spaces).
CLIP_COLUMNS = [
    Column("Subject", ("subject",)),
    Column("Filename", ("filename",)),
    Column("OnsetFrame", ("onsetframe", "onset")),
    Column("ApexFrame", ("apexframe", "apex")),
    Column("OffsetFrame", ("offsetframe", "offset")),
    Column("Estimated Emotion", ("estimatedemotion", "emotion")),
    Column("Action Units", ("actionunits", "aus"), required=False),
]


def resolve_root(root: str | Path | None, title: str, expected: str) -> Path:
    """The dataset root as an absolute path.

    Raises:
        DatasetError: it is missing or not a folder.
    """
    if root is None:
        raise DatasetError(f"no {title} root given: expected {expected}")
    path = Path(root).expanduser()
    if not path.is_dir():
        raise DatasetError(f"{title} root not found: {path} (expected {expected})")
    return path.resolve()


def walk_levels(root: Path, depth: int = SEARCH_DEPTH,
                stop: Callable[[Path], bool] | None = None) -> Iterator[tuple[int, Path]]:
    """Yield ``(depth, folder)`` for ``root`` and its sub-folders breadth first down to ``depth`` levels.

    Hidden folders are skipped. Folders for which ``stop`` is true are yielded but not entered (a frames
    root's children are subjects, whose clip folders hold thousands of frames).
    """
    level = [root]
    for current_depth in range(depth + 1):
        next_level = []
        for folder in level:
            yield current_depth, folder
            if current_depth == depth or (stop is not None and stop(folder)):
                continue
            try:
                children = sorted((e for e in os.scandir(folder) if e.is_dir() and not e.name.startswith(".")),
                                  key=lambda e: natural_key(e.name))
            except OSError:
                continue
            next_level.extend(Path(e.path) for e in children)
        level = next_level


def walk_dirs(root: Path, depth: int = SEARCH_DEPTH, stop: Callable[[Path], bool] | None = None) -> Iterator[Path]:
    """The folders of :func:`walk_levels`, without their depth."""
    return (folder for _, folder in walk_levels(root, depth, stop))


def find_sheet(root: Path, sheet: str | Path | None, patterns: tuple[str, ...], title: str, dataset: str,
               stop: Callable[[Path], bool] | None = None) -> Path:
    """The annotation sheet: ``sheet`` if given (relative to ``root``), else the one file matching ``patterns``.

    The shallowest folder level with a match wins; within it patterns are case-insensitive globs tried in
    order, the first with matches wins. Excel lock files (``~$name.xlsx``) are ignored. Folders for which
    ``stop`` is true (frames roots) are not searched below.

    Raises:
        DatasetError: the given sheet is missing, none matches, or several match the same pattern.
    """
    if sheet is not None:
        path = Path(sheet).expanduser()
        path = path if path.is_absolute() else root / path
        if not path.is_file():
            raise DatasetError(f"{title} annotation sheet not found: {path}")
        return path
    levels: dict[int, list[Path]] = {}
    for depth, folder in walk_levels(root, stop=stop):
        try:
            files = [Path(e.path) for e in os.scandir(folder) if e.is_file() and not e.name.startswith("~$")]
        except OSError:
            continue
        levels.setdefault(depth, []).extend(files)
    for depth in sorted(levels):
        for pattern in patterns:
            matches = [f for f in levels[depth] if fnmatch.fnmatch(f.name.lower(), pattern.lower())]
            if len(matches) == 1:
                return matches[0]
            if len(matches) > 1:
                listed = ", ".join(str(m) for m in matches)
                raise DatasetError(
                    f"several {title} annotation sheets under {root} match {pattern!r}: {listed}; "
                    f"choose one with --dataset-option {dataset}.sheet=FILE (Python: scan(root, sheet=...))"
                )
    raise DatasetError(
        f"no {title} annotation sheet under {root}: looked for {' or '.join(patterns)} in it and "
        f"{SEARCH_DEPTH} folder levels below; pass it with --dataset-option {dataset}.sheet=FILE "
        "(Python: scan(root, sheet=...))"
    )


def find_frames_dir(root: Path, frames_dir: str | Path | None, is_frames_root: Callable[[Path], bool],
                    preferred: tuple[str, ...], title: str, dataset: str, expected: str) -> tuple[Path, str]:
    """The folder whose children are the subject folders, and a note saying how it was chosen.

    Args:
        root: dataset root.
        frames_dir: explicit folder (relative to ``root`` or absolute), else auto-detect.
        is_frames_root: whether a folder holds the subject folders.
        preferred: folder names in order of preference when several qualify (case-insensitive).
        title: dataset name for messages, e.g. ``"CASME II"``.
        dataset: adapter name, for the override hint.
        expected: the layout, for the error message.

    Raises:
        DatasetError: the given folder is missing or no folder qualifies.
    """
    if frames_dir is not None:
        path = Path(frames_dir).expanduser()
        path = path if path.is_absolute() else root / path
        if not path.is_dir():
            raise DatasetError(f"{title} frames folder not found: {path} (expected {expected})")
        return path.resolve(), f"frames: {path} (given)"
    found = [d for d in walk_dirs(root, stop=is_frames_root) if is_frames_root(d)]
    if not found:
        raise DatasetError(
            f"no {title} frames folder under {root}: expected {expected}, in it or up to {SEARCH_DEPTH} folder "
            f"levels below; pass it with --dataset-option {dataset}.frames_dir=DIR (Python: scan(root, frames_dir=...))"
        )
    rank = {name.lower(): i for i, name in enumerate(preferred)}
    found.sort(key=lambda d: rank.get(d.name.lower(), len(rank)))  # stable: breadth-first order among equals
    chosen = found[0]
    note = f"frames: {chosen} (auto-detected"
    if len(found) > 1:
        others = ", ".join(str(d.relative_to(root)) if d != root else "." for d in found[1:])
        note += f"; also found {others}: choose with --dataset-option {dataset}.frames_dir=DIR"
    return chosen, note + ")"


def has_child_dir(folder: Path, matches: Callable[[str], bool]) -> bool:
    """Whether ``folder`` has a sub-folder whose name satisfies ``matches``."""
    try:
        return any(e.is_dir() and matches(e.name) for e in os.scandir(folder))
    except OSError:
        return False


@dataclass(frozen=True)
class Annotation:
    """One sheet row, parsed but not yet checked against the frames on disk."""

    row: int
    subject: str  # namespaced, e.g. "casme2/sub01"
    clip: str
    folder: Path
    emotion: str  # lower case
    onset: int | None
    apex: int | None
    offset: int | None
    action_units: str

    def fields(self) -> tuple:
        return (self.emotion, self.onset, self.apex, self.offset, self.action_units)


# (row) -> (namespaced subject, clip, clip folder); raises ValueError with a reason for unusable rows.
Locate = Callable[[SheetRow], tuple[str, str, Path]]


def scan_sheet(dataset: str, root: Path, sheet: Sheet, locate: Locate, notes: list[str]) -> DatasetScan:
    """Turn sheet rows into validated Samples; every unusable row becomes an Exclusion and the rest go on.

    Checks, in order: subject / clip / frame cells readable (stage ``sheet``), duplicate clips (``sheet``),
    onset <= apex <= offset (``sheet``), clip folder and annotated frames on disk (``frames``).
    """
    scan = DatasetScan(dataset=dataset, root=root, notes=notes)
    where = f"{sheet.path.name} row"
    annotations: dict[tuple[str, str], list[Annotation]] = {}
    for row in sheet.rows:
        raw_subject, raw_clip = cell_text(row["Subject"]), cell_text(row["Filename"])
        try:
            subject, clip, folder = locate(row)
            onset = parse_frame(row["OnsetFrame"], "onset")
            apex = parse_frame(row["ApexFrame"], "apex")
            offset = parse_frame(row["OffsetFrame"], "offset")
        except ValueError as exc:
            message = str(exc)  # "cause: detail" or just "cause"
            reason = f"{message} ({where} {row.number})" if ": " in message else f"{message}: {where} {row.number}"
            scan.exclusions.append(Exclusion(dataset, f"{dataset}/{raw_subject}", raw_clip or f"row{row.number}",
                                             "sheet", reason, str(sheet.path)))
            continue
        emotion = cell_text(row["Estimated Emotion"]).lower()
        annotation = Annotation(row.number, subject, clip, folder, emotion, onset, apex, offset,
                                cell_text(row["Action Units"]))
        annotations.setdefault((subject, clip), []).append(annotation)

    for (subject, clip), rows in annotations.items():
        first = rows[0]
        if any(a.fields() != first.fields() for a in rows[1:]):
            numbers = ", ".join(str(a.row) for a in rows)
            scan.exclusions.append(Exclusion(dataset, subject, clip, "sheet",
                                             f"duplicate clip with conflicting annotations: {where}s {numbers}",
                                             str(sheet.path)))
            continue
        for repeat in rows[1:]:
            scan.exclusions.append(Exclusion(dataset, subject, clip, "sheet",
                                             f"duplicate row: {where} {repeat.row} repeats row {first.row}",
                                             str(sheet.path)))
        result = check_annotation(dataset, first, f"{where} {first.row}")
        if isinstance(result, Exclusion):
            scan.exclusions.append(result)
        else:
            scan.samples.append(result)
    scan.samples.sort(key=lambda s: (natural_key(s.subject), natural_key(s.clip)))
    return scan


def check_annotation(dataset: str, a: Annotation, where: str) -> Sample | Exclusion:
    """Check one annotation's numbers and frames; return the Sample, or the Exclusion saying why not."""

    def exclude(stage: str, reason: str, path: Path | str) -> Exclusion:
        return Exclusion(dataset, a.subject, a.clip, stage, reason, str(path))

    if not a.emotion:
        return exclude("sheet", f"emotion missing in the sheet: {where}", a.folder)
    if a.onset is None or a.offset is None:
        role = "onset" if a.onset is None else "offset"
        return exclude("sheet", f"{role} missing in the sheet: {where}", a.folder)
    if a.onset > a.offset:
        return exclude("sheet", f"onset after offset: onset {a.onset}, offset {a.offset} ({where})", a.folder)
    if a.apex is not None and not a.onset <= a.apex <= a.offset:
        return exclude("sheet", f"apex outside onset..offset: apex {a.apex}, onset {a.onset}, offset {a.offset} "
                                f"({where})", a.folder)
    try:
        frames = list_frames(a.folder)
    except FrameError as exc:
        cause = str(exc).partition(": ")[0]
        return exclude("frames", f"{cause}: {a.folder.name}" if cause == "clip folder missing" else str(exc),
                       a.folder)
    missing = frames.missing({"onset": a.onset, "apex": a.apex, "offset": a.offset})
    if missing:
        return exclude("frames", f"annotated frame missing: {', '.join(missing)} (folder has {frames.describe()})",
                       a.folder)
    return Sample(dataset=dataset, subject=a.subject, clip=a.clip, emotion=a.emotion, onset=a.onset, apex=a.apex,
                  offset=a.offset, frames=frames.paths, frame_numbers=frames.numbers, action_units=a.action_units)
