"""The demo in several datasets' layouts, so that leave-one-dataset-out runs on it (``--layouts casme2,samm,casme3``).

The demo of the same seed, preset and size is rendered once (``generate_demo``) and its subjects are split in
blocks, in order, over the layouts (16 subjects over three: 6, 5, 5); each block is written in one release's
on-disk layout, sheet and spelling, for that release's real adapter to read:

    casme2/CASME2_RAW_selected/subNN/EPxx_yy/img<N>.jpg + casme2/CASME2-coding-demo.xlsx   (dataset demo-casme2)
    samm/SAMM/0NN/0NN_<k>_1/0NN_<NNNNN>.jpg + samm/SAMM_Micro_FACS_Codes_v2-demo.xlsx     (dataset demo-samm)
        header on row 14 under 13 preamble rows; AUs "AU4+AU15"; emotions capitalised, repression as Sadness
    casme3/data/part_A/spNO.N/<video>/color/<N>.jpg                                        (dataset demo-casme3)
        + casme3/annotation/cas(me)3_part_A_ME_label_JpgIndex_v2-demo.xlsx (worksheet "label"); two clips per
        video folder (the second numbered +1000); AUs "4,15"; emotions happy / disgust / surprise, repression as sad
    ground_truth.json, ground_truth/*.npz    the rendered demo's truth, under its own (CASME II) names
    layouts.json                             every layout clip -> the rendered subject / clip it comes from
    checksums.json, demo.json                as for the demo (demo.json: this generator, its version, the source's)

The default demo (``ensure_demo()``) is not touched: this is a second folder, next to it in the cache.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path

import numpy as np

from mer_ray.infra.locks import exclusive, keyed_lock_path
from preprocessing.annotations.sample import DatasetError
from preprocessing.demo.config import make_config, manifest
from preprocessing.demo.files import write_coding_sheet, write_json, write_workbook
from preprocessing.demo.generate import _read_manifest, default_root, generate_demo
from preprocessing.demo.writing import (
    CHECKSUMS,
    FRAMES_DIR,
    GROUND_TRUTH,
    GROUND_TRUTH_DIR,
    MANIFEST,
    _checksums,
    damaged_files,
)

LAYOUTS_VERSION = 1  # bump whenever the files written for a given source demo change
LAYOUTS = ("casme2", "samm", "casme3")  # the layouts written, in the order subjects are handed out
LAYOUTS_FILE = "layouts.json"
SOURCE = ".source"  # where the demo is rendered before its clips are moved into the layouts

SAMM_HEADER = ("Subject", "Filename", "Inducement Code", "Onset Frame", "Apex Frame", "Offset Frame", "Duration",
               "Micro", "Action Units", "Estimated Emotion", "Objective Classes", "Notes")
SAMM_PREAMBLE = 13
SAMM_SHEET = "SAMM_Micro_FACS_Codes_v2-demo.xlsx"
SAMM_EMOTIONS = {"happiness": "Happiness", "surprise": "Surprise", "disgust": "Disgust", "repression": "Sadness",
                 "fear": "Fear", "sadness": "Sadness", "others": "Other"}
CASME3_HEADER = ("Subject", "Filename", "Onset", "Apex", "Offset", "AU", "Objective class", "emotion")
CASME3_SHEET = "annotation/cas(me)3_part_A_ME_label_JpgIndex_v2-demo.xlsx"
CASME3_FRAMES = "data/part_A"
CASME3_EMOTIONS = {"happiness": "happy", "surprise": "surprise", "disgust": "disgust", "repression": "sad",
                   "fear": "fear", "sadness": "sad", "others": "others"}
CASME3_SHIFT = 1000  # the second clip of a video folder is numbered from onset + 1000


def dataset_name(layout: str) -> str:
    """The dataset a layout is read as: ``demo-casme2``, ``demo-samm``, ``demo-casme3``."""
    return f"demo-{layout}"


def parse_layouts(layouts: str | tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """``"casme2,samm"`` or a sequence -> a tuple of known layouts, in ``LAYOUTS`` order.

    Raises:
        ValueError: empty, unknown or repeated names (the message lists the valid ones).
    """
    names = [n.strip() for n in (layouts.split(",") if isinstance(layouts, str) else layouts) if n.strip()]
    unknown = [n for n in names if n not in LAYOUTS]
    if not names or unknown or len(set(names)) != len(names):
        raise ValueError(f"demo layouts {layouts!r}: expected distinct names among {', '.join(LAYOUTS)} "
                         "(comma-separated)")
    return tuple(n for n in LAYOUTS if n in names)


def layouts_manifest(seed: int, layouts: tuple[str, ...], preset: str, size: dict) -> dict:
    return {"generator": "preprocessing.demo.layouts", "version": LAYOUTS_VERSION, "layouts": list(layouts),
            "source": manifest(seed, make_config(preset, **size))}


def layouts_root(seed: int = 0, layouts: tuple[str, ...] = LAYOUTS, preset: str = "easy", **size) -> Path:
    """Cache folder: the demo's own (``default_root``) with ``-layouts-casme2-samm-casme3`` appended."""
    base = default_root(seed, preset, **size)
    return base.with_name(f"{base.name}-layouts-{'-'.join(layouts)}")


def is_current(root: Path, *, seed: int = 0, layouts: tuple[str, ...] = LAYOUTS, preset: str = "easy",
               **size) -> bool:
    """Whether ``root`` holds these layouts of this demo, complete and intact (``checksums.json``)."""
    return (_read_manifest(Path(root)) == layouts_manifest(seed, layouts, preset, size)
            and damaged_files(Path(root)) == [])


def ensure_layouts(root: Path | None = None, *, seed: int = 0, layouts: str | tuple[str, ...] = LAYOUTS,
                   preset: str = "easy", **size) -> Path:
    """The multi-layout demo, written on first use (atomically, one process at a time) and reused afterwards.

    Args:
        root: where it lives (default: :func:`layouts_root` under ``$MER_RAY_CACHE/demo``).
        seed, preset, **size: the rendered demo's (``generate_demo``).
        layouts: which layouts (``LAYOUTS``); the subjects are split over them, so each needs at least one.

    Raises:
        ValueError: unknown layouts, or fewer subjects than layouts.
        DatasetError: ``root`` exists and is not a demo (nothing is overwritten).
    """
    layouts = parse_layouts(layouts)
    config = make_config(preset, **size)
    if config.n_subjects < len(layouts):
        raise ValueError(f"demo layouts {','.join(layouts)}: {config.n_subjects} subjects cannot fill "
                         f"{len(layouts)} datasets; give n_subjects >= {len(layouts)}")
    root = Path(root).expanduser().resolve() if root is not None else layouts_root(seed, layouts, preset, **size)
    if is_current(root, seed=seed, layouts=layouts, preset=preset, **size):
        return root
    with exclusive(keyed_lock_path(root), f"writing the multi-layout demo into {root}"):
        if not is_current(root, seed=seed, layouts=layouts, preset=preset, **size):
            _generate(root, seed, layouts, preset, size)
    return root


def _generate(root: Path, seed: int, layouts: tuple[str, ...], preset: str, size: dict) -> None:
    ours = (root / MANIFEST).is_file() or (root / CHECKSUMS).is_file()
    if root.exists() and not ours and (not root.is_dir() or any(root.iterdir())):
        raise DatasetError(f"{root} exists and is not a demo dataset (no {MANIFEST}); refusing to overwrite it. "
                           "Give an empty or new folder.")
    root.parent.mkdir(parents=True, exist_ok=True)
    tag = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
    partial, stale = root.parent / f".{root.name}.partial-{tag}", root.parent / f".{root.name}.stale-{tag}"
    try:
        partial.mkdir()
        source = generate_demo(partial / SOURCE, seed=seed, preset=preset, **size)
        write_layouts(source, partial, layouts)
        shutil.rmtree(source)
        write_json(partial / CHECKSUMS, _checksums(partial))
        write_json(partial / MANIFEST, layouts_manifest(seed, layouts, preset, size))
        if root.exists():
            root.rename(stale)
        try:
            partial.rename(root)
        except OSError:
            if _read_manifest(root) != layouts_manifest(seed, layouts, preset, size):
                raise
    finally:
        shutil.rmtree(partial, ignore_errors=True)
        shutil.rmtree(stale, ignore_errors=True)


def write_layouts(source: Path, out: Path, layouts: tuple[str, ...]) -> None:
    """Move the rendered demo's clips at ``source`` into ``out``'s layouts (blocks of subjects, in order) and write
    each layout's sheet, the ground truth and ``layouts.json``."""
    truth = json.loads((source / GROUND_TRUTH).read_text(encoding="utf-8"))
    subjects = sorted({clip["subject"] for clip in truth["clips"]})
    blocks = np.array_split(np.arange(len(subjects)), len(layouts))
    owner = {subjects[i]: layout for layout, block in zip(layouts, blocks) for i in block}
    mapping = []
    for layout in layouts:
        clips = [c for c in truth["clips"] if owner[c["subject"]] == layout]
        mapping += WRITERS[layout](source, out / layout, clips)
    (out / GROUND_TRUTH_DIR).mkdir()
    for path in sorted((source / GROUND_TRUTH_DIR).iterdir()):
        path.rename(out / GROUND_TRUTH_DIR / path.name)
    (source / GROUND_TRUTH).rename(out / GROUND_TRUTH)
    write_json(out / LAYOUTS_FILE, {"version": LAYOUTS_VERSION, "layouts": list(layouts),
                                    "datasets": {layout: dataset_name(layout) for layout in layouts},
                                    "subjects": {s: dataset_name(owner[s]) for s in subjects}, "clips": mapping})


def _sheet(clip: dict) -> tuple[str, int, list[str]]:
    """What the demo's CASME II sheet says of a clip: emotion, apex, AU tokens (``["4", "R14"]``)."""
    cell = clip.get("sheet_action_units", clip["action_units"])
    tokens = [str(a) for a in cell] if isinstance(cell, list) else str(cell).split("+")
    return clip.get("sheet_emotion", clip["emotion"]), clip.get("sheet_apex", clip["apex"]), tokens


def _frames(source: Path, clip: dict) -> list[tuple[int, Path]]:
    folder = source / FRAMES_DIR / clip["subject"] / clip["clip"]
    return sorted((int(p.stem.removeprefix("img")), p) for p in folder.iterdir())


def _entry(layout: str, subject: str, name: str, clip: dict, shift: int = 0) -> dict:
    return {"dataset": dataset_name(layout), "subject": subject, "clip": name, "source_subject": clip["subject"],
            "source_clip": clip["clip"], "frame_shift": shift}


def _write_casme2(source: Path, out: Path, clips: list[dict]) -> list[dict]:
    rows = []
    for clip in clips:
        target = out / FRAMES_DIR / clip["subject"] / clip["clip"]
        target.parent.mkdir(parents=True, exist_ok=True)
        (source / FRAMES_DIR / clip["subject"] / clip["clip"]).rename(target)
        emotion, apex, tokens = _sheet(clip)
        cell = int(tokens[0]) if len(tokens) == 1 and tokens[0].isdigit() else "+".join(tokens)
        rows.append({"subject": clip["subject"].removeprefix("sub"), "clip": clip["clip"], "onset": clip["onset"],
                     "apex": apex, "offset": clip["offset"], "action_units": cell, "emotion": emotion})
    out.mkdir(parents=True, exist_ok=True)
    write_coding_sheet(out / "CASME2-coding-demo.xlsx", rows)
    return [_entry("casme2", f"demo-casme2/{c['subject']}", c["clip"], c) for c in clips]


def _write_samm(source: Path, out: Path, clips: list[dict]) -> list[dict]:
    rows, entries, index = [], [], {}
    for clip in clips:
        number = int(clip["subject"].removeprefix("sub"))
        index[number] = index.get(number, 0) + 1
        name = f"{number:03d}_{index[number]}_1"
        folder = out / "SAMM" / f"{number:03d}" / name
        folder.mkdir(parents=True)
        for frame, path in _frames(source, clip):
            path.rename(folder / f"{number:03d}_{frame:05d}.jpg")
        emotion, apex, tokens = _sheet(clip)
        units = "+".join(f"AU{t}" if t.isdigit() else t for t in tokens)
        rows.append([number, name, f"{index[number]}", clip["onset"], apex, clip["offset"],
                     clip["offset"] - clip["onset"] + 1, "Micro - 1/2", units,
                     SAMM_EMOTIONS.get(emotion, emotion.capitalize()), None, None])
        entries.append(_entry("samm", f"demo-samm/{number:03d}", name, clip))
    preamble = [["SAMM-style FACS codes of the mer-ray demo (synthetic)"]] + [[] for _ in range(SAMM_PREAMBLE - 1)]
    write_workbook(out / SAMM_SHEET, [("MICRO_ONLY", preamble + [list(SAMM_HEADER)] + rows)])
    return entries


def _video(index: int) -> str:
    """Video folder name of a subject's ``index``-th video: ``a``, ``b``, ... ``z``, ``a1``, ..."""
    return chr(ord("a") + index % 26) + (str(index // 26) if index >= 26 else "")


def _write_casme3(source: Path, out: Path, clips: list[dict]) -> list[dict]:
    rows, entries, index = [], [], {}
    for clip in clips:
        number = int(clip["subject"].removeprefix("sub"))
        k = index.get(number, 0)
        index[number] = k + 1
        subject, video, shift = f"spNO.{number}", _video(k // 2), (k % 2) * CASME3_SHIFT
        folder = out / CASME3_FRAMES / subject / video / "color"
        folder.mkdir(parents=True, exist_ok=True)
        for frame, path in _frames(source, clip):
            path.rename(folder / f"{frame + shift}.jpg")
        emotion, apex, tokens = _sheet(clip)
        rows.append([subject, video, clip["onset"] + shift, apex + shift, clip["offset"] + shift, ",".join(tokens),
                     None, CASME3_EMOTIONS.get(emotion, emotion)])
        entries.append(_entry("casme3", f"demo-casme3/{subject}", f"{video}_{clip['onset'] + shift}", clip, shift))
    write_workbook(out / CASME3_SHEET, [("label", [list(CASME3_HEADER)] + rows)])
    return entries


WRITERS = {"casme2": _write_casme2, "samm": _write_samm, "casme3": _write_casme3}
