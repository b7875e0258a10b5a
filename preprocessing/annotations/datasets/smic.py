"""SMIC-HS (the 164 MEGC2019 composite clips): no sheet; frames ``HS/s1/micro/negative/s1_ne_01/image<N>.bmp``.

The label is the emotion folder (``negative``, ``positive``, ``surprise``); each clip folder holds exactly the
onset..offset frames, so onset = first frame number, offset = last, apex = ``None`` (the pipeline spots it).
Names are zero-padded to the official list's spelling: subject ``s1`` -> ``smic/s01``, clip ``s1_ne_01`` ->
``s01_ne_01`` (frame paths keep the folder's own name). The ``HS`` folder is found automatically under the
root (``HS/``, ``SMIC_all_raw/HS/``, or the root itself; uncropped preferred), or pass ``frames_dir``.
``SMIC-HS-E_annotation.xlsx`` describes the long videos, not these clips, and is not read.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from preprocessing.annotations.datasets._common import find_frames_dir, has_child_dir, resolve_root, walk_dirs
from preprocessing.annotations.frames import FrameError, list_frames, natural_key
from preprocessing.annotations.sample import DatasetError, DatasetScan, Exclusion, Sample

NAME = "smic"
TITLE = "SMIC-HS"
EXPECTED = "a folder holding HS/s1/micro/negative/s1_ne_01/image069664.bmp (e.g. SMIC_all_raw/)"
MICRO_DIR = "micro"
# Emotion code in clip names -> emotion folder (s1_ne_01 lies in negative/).
CODES = {"ne": "negative", "po": "positive", "sur": "surprise"}

_SUBJECT_DIR = re.compile(r"s(\d+)", re.IGNORECASE)
_CLIP_DIR = re.compile(r"s(\d+)_([a-z]+)_(\d+)", re.IGNORECASE)


def _subdirs(folder: Path) -> list[os.DirEntry]:
    return sorted((e for e in os.scandir(folder) if e.is_dir() and not e.name.startswith(".")),
                  key=lambda e: natural_key(e.name))


def _micro_dir(subject_dir: Path) -> Path | None:
    return next((Path(e.path) for e in _subdirs(subject_dir) if e.name.lower() == MICRO_DIR), None)


def is_frames_root(folder: Path) -> bool:
    """Whether ``folder`` holds SMIC subject folders with a ``micro`` folder (``s1/micro/``)."""
    return has_child_dir(folder, lambda name: _SUBJECT_DIR.fullmatch(name) is not None
                         and (folder / name / MICRO_DIR).is_dir())


def _find_hs(root: Path) -> tuple[Path, str]:
    """The HS folder: the root itself if it holds subjects, else an ``HS`` folder below it (uncropped first)."""
    if is_frames_root(root):
        return root, f"frames: {root} (the root holds the subject folders)"
    found = [d for d in walk_dirs(root, stop=is_frames_root) if d.name.lower() == "hs" and is_frames_root(d)]
    if not found:
        raise DatasetError(
            f"no {TITLE} frames folder under {root}: expected {EXPECTED}; pass the HS folder with "
            f"--dataset-option {NAME}.frames_dir=DIR (Python: scan(root, frames_dir=...))"
        )
    found.sort(key=lambda d: "crop" in str(d.relative_to(root)).lower())
    note = f"frames: {found[0]} (auto-detected"
    if len(found) > 1:
        others = ", ".join(str(d.relative_to(root)) for d in found[1:])
        note += f"; also found {others}: choose with --dataset-option {NAME}.frames_dir=DIR"
    return found[0], note + ")"


def scan(root: str | Path, *, frames_dir: str | Path | None = None) -> DatasetScan:
    """Read the SMIC-HS micro-expression clips under ``root`` into validated Samples.

    Args:
        root: SMIC root (holding ``HS/`` or ``SMIC_all_raw/HS/``) or the ``HS`` folder itself.
        frames_dir: the ``HS`` folder, absolute or relative to ``root`` (default: auto-detect).

    Returns:
        The samples plus the clip folders excluded with their reasons.

    Raises:
        DatasetError: missing root or no HS folder.
    """
    root = resolve_root(root, TITLE, EXPECTED)
    if frames_dir is not None:
        hs, note = find_frames_dir(root, frames_dir, is_frames_root, (), TITLE, NAME, EXPECTED)
    else:
        hs, note = _find_hs(root)
    scan = DatasetScan(dataset=NAME, root=root, notes=[note])
    without_micro = []
    by_clip: dict[str, list[Sample | Exclusion]] = {}
    for subject_entry in _subdirs(hs):
        match = _SUBJECT_DIR.fullmatch(subject_entry.name)
        if match is None:
            continue
        subject_dir = Path(subject_entry.path)
        micro = _micro_dir(subject_dir)
        if micro is None:
            without_micro.append(subject_entry.name)
            continue
        subject = f"s{int(match.group(1)):02d}"
        for emotion_entry in _subdirs(micro):
            for clip_entry in _subdirs(Path(emotion_entry.path)):
                result = _clip(subject, emotion_entry.name.lower(), Path(clip_entry.path))
                by_clip.setdefault(result.clip, []).append(result)
    for clip, results in by_clip.items():
        if len(results) > 1:
            folders = ", ".join(str(Path(r.frames[0]).parent) if isinstance(r, Sample) else r.path for r in results)
            reason = f"duplicate clip folder: {clip} found {len(results)} times ({folders})"
            scan.exclusions.extend(Exclusion(NAME, r.subject, clip, "frames", reason, folders) for r in results)
        elif isinstance(results[0], Sample):
            scan.samples.append(results[0])
        else:
            scan.exclusions.append(results[0])
    if without_micro:
        scan.notes.append(f"subject folders without a {MICRO_DIR}/ folder (skipped): {', '.join(without_micro)}")
    scan.samples.sort(key=lambda s: (natural_key(s.subject), natural_key(s.clip)))
    return scan


def _clip(subject: str, emotion: str, folder: Path) -> Sample | Exclusion:
    """One clip folder as a Sample, or the Exclusion saying why not."""
    namespaced = f"{NAME}/{subject}"
    match = _CLIP_DIR.fullmatch(folder.name)
    if match is None:
        return Exclusion(NAME, namespaced, folder.name, "frames",
                         f"unexpected clip folder name: {folder.name} (expected e.g. s1_ne_01)", str(folder))
    clip = f"s{int(match.group(1)):02d}_{match.group(2).lower()}_{match.group(3)}"
    if f"s{int(match.group(1)):02d}" != subject:
        return Exclusion(NAME, namespaced, clip, "frames",
                         f"clip folder in another subject's folder: {folder.name} in {folder.parents[2].name}/",
                         str(folder))
    coded = CODES.get(match.group(2).lower())
    if coded is not None and coded != emotion:
        return Exclusion(NAME, namespaced, clip, "frames",
                         f"clip name and emotion folder disagree: {folder.name} in {emotion}/ (its code means "
                         f"{coded})", str(folder))
    try:
        frames = list_frames(folder)
    except FrameError as exc:
        return Exclusion(NAME, namespaced, clip, "frames", str(exc), str(folder))
    return Sample(dataset=NAME, subject=namespaced, clip=clip, emotion=emotion, onset=frames.numbers[0], apex=None,
                  offset=frames.numbers[-1], frames=frames.paths, frame_numbers=frames.numbers)
