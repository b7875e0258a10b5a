"""A user's own clips as ``Sample`` records, processed by the dataset pipeline's own code.

An input is a folder of frames (numbered file names, as in the datasets), a video file (mp4 / avi / mov / mkv /
m4v, decoded with OpenCV's ``VideoCapture`` into lossless frames numbered from 0), an onset / apex image pair, or a
folder of such clip folders and videos (expanded, sorted naturally). The onset is the first frame unless given,
the apex is spotted (``preprocessing/vision/apex.py``) unless given, the offset is the last frame.

Processing goes through ``features.pipeline.process_row`` (what every ``ClipProcessor`` actor runs) in this process
for a few clips, or through the Ray Data pipeline itself (``features.pipeline.run_pipeline``) for many. An input that
cannot be used gets one reason (unreadable or empty video, no face, too few frames, onset or apex out of range, an
image pair of two sizes) and the other inputs go on.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from preprocessing.annotations.frames import FrameError, is_image, list_frames, natural_key
from preprocessing.annotations.sample import Sample

VIDEO_SUFFIXES = frozenset({".mp4", ".avi", ".mov", ".mkv", ".m4v"})
RAY_MIN_CLIPS = 4  # from this many clips on, Ray Data's actor pool beats a loop despite its start-up (~5 s)
ARRAY_NAMES = ("flow", "onset_face", "apex_face", "mask", "landmarks")
DATASET = "input"  # the Sample.dataset / subject of a user's clip


@dataclass
class ClipInput:
    """One input as the user named it, resolved into a Sample or a reason it cannot be used.

    Attributes:
        name: the path as given (a pair: ``"ONSET + APEX"``).
        kind: ``"frames"``, ``"video"`` or ``"pair"``.
        sample: the clip (None when skipped before processing).
        stage, reason: why it is skipped (``stage`` one of ``"read"``, ``"frames"``, ``"onset"``, ``"apex"``).
        frames: frames found.
        fps: a video's frame rate (None otherwise).
    """

    name: str
    kind: str
    sample: Sample | None = None
    stage: str = ""
    reason: str = ""
    frames: int = 0
    fps: float | None = None

    def skip(self, stage: str, reason: str) -> ClipInput:
        self.sample, self.stage, self.reason = None, stage, reason
        return self


@dataclass
class ClipOutcome:
    """What processing one input gave: its arrays (aligned-face pixels), or a stage and reason."""

    input: ClipInput
    ok: bool
    stage: str = ""
    reason: str = ""
    onset: int | None = None
    apex: int | None = None
    apex_spotted: bool = False
    warnings: list[str] = field(default_factory=list)
    arrays: dict[str, np.ndarray] = field(default_factory=dict)  # ARRAY_NAMES; flow (4, S, S) [u, v, strain, mag]

    def line(self) -> str:
        """The one line a skipped input gets: ``NAME: reason (stage)``."""
        return f"{self.input.name}: {self.reason} (stage {self.stage!r})"


# ---- resolving inputs -------------------------------------------------------------------------------------


def check_usage(inputs: Sequence[str], onset_image: str | None, apex_image: str | None, what: str) -> None:
    """Refuse a command-line mistake in a set of inputs (``what`` is the command's verb) with
    :class:`~mer_ray.infra.errors.UsageError`, before anything is read."""
    from mer_ray.infra.errors import UsageError

    if (onset_image is None) != (apex_image is None):
        raise UsageError("--onset IMG and --apex IMG go together")
    if not inputs and onset_image is None:
        raise UsageError(f"nothing to {what}: give INPUT paths or --onset IMG --apex IMG")


def expand_inputs(paths: Sequence[str | Path]) -> list[tuple[str, str]]:
    """``(path, kind)`` per clip: a folder holding images is one clip; a folder of clip folders / videos is
    expanded (recursively, natural order); anything else is taken as a video (and fails as one if it is not)."""
    out: list[tuple[str, str]] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir() and not _has_images(path):
            found = _clips_below(path)
            out.extend(found or [(str(raw), "frames")])  # an empty folder: reported as a frame folder
        else:
            out.append((str(raw), "frames" if path.is_dir() else "video"))
    return out


def _has_images(folder: Path) -> bool:
    with os.scandir(folder) as entries:
        return any(is_image(e.name) and e.is_file() for e in entries)


def _clips_below(folder: Path) -> list[tuple[str, str]]:
    found = []
    for entry in sorted(folder.iterdir(), key=lambda p: natural_key(p.name)):
        if entry.name.startswith("."):
            continue
        if entry.is_dir():
            found += [(str(entry), "frames")] if _has_images(entry) else _clips_below(entry)
        elif entry.suffix.lower() in VIDEO_SUFFIXES:
            found.append((str(entry), "video"))
    return found


def _clip_name(index: int, path: str) -> str:
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(path).stem or Path(path).name)[:60]
    return f"{index:04d}_{stem}"


def _window(item: ClipInput, numbers: Sequence[int], onset: int | None, apex: int | None) -> ClipInput:
    """Check the onset / apex against the frames found; build the Sample or mark the input skipped."""
    if len(numbers) < 2:
        return item.skip("frames", f"too few frames: {len(numbers)} (an onset and at least one later frame are "
                                   "needed)")
    span = f"frames {numbers[0]}..{numbers[-1]}"
    onset = numbers[0] if onset is None else onset
    if onset not in numbers:
        return item.skip("onset", f"onset frame {onset} is out of range ({span})")
    if apex is not None:
        if apex not in numbers:
            return item.skip("apex", f"apex frame {apex} is out of range ({span})")
        if apex <= onset:
            return item.skip("apex", f"apex frame {apex} is not after the onset frame {onset}")
    elif onset == numbers[-1]:
        return item.skip("apex", f"no frame after the onset frame {onset} to spot an apex in ({span})")
    return item


def frames_input(index: int, folder: str, onset: int | None, apex: int | None) -> ClipInput:
    """A folder of numbered frames (``img46.jpg``...) as a clip."""
    item = ClipInput(folder, "frames")
    try:
        frames = list_frames(folder)
    except FrameError as err:
        return item.skip("read", "no such file or folder" if not Path(folder).exists() else str(err))
    item.frames = len(frames.numbers)
    if _window(item, frames.numbers, onset, apex).reason:
        return item
    item.sample = _sample(index, folder, frames.paths, frames.numbers, onset, apex)
    return item


def video_input(index: int, path: str, work: Path, onset: int | None, apex: int | None) -> ClipInput:
    """A video file decoded into ``work`` as grayscale lossless frames ``frame000000.png``... (numbered from 0)."""
    import cv2

    item = ClipInput(path, "video")
    if not Path(path).exists():
        return item.skip("read", "no such file or folder")
    capture = cv2.VideoCapture(str(path))
    try:
        if not capture.isOpened():
            return item.skip("read", "unreadable video (OpenCV cannot open it: not a video, or an unsupported codec)")
        fps = capture.get(cv2.CAP_PROP_FPS)
        item.fps = float(fps) if fps and np.isfinite(fps) and fps > 0 else None
        folder = work / _clip_name(index, path)
        folder.mkdir(parents=True, exist_ok=True)
        paths = []
        while True:
            ok, frame = capture.read()
            if not ok or frame is None:
                break
            gray = frame if frame.ndim == 2 else cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
            file = folder / f"frame{len(paths):06d}.png"
            cv2.imwrite(str(file), gray, [cv2.IMWRITE_PNG_COMPRESSION, 1])
            paths.append(str(file))
    finally:
        capture.release()
    item.frames = len(paths)
    if not paths:
        return item.skip("read", "empty video: no frame could be decoded")
    numbers = tuple(range(len(paths)))
    if _window(item, numbers, onset, apex).reason:
        return item
    item.sample = _sample(index, path, tuple(paths), numbers, onset, apex)
    return item


def pair_input(index: int, onset_image: str, apex_image: str) -> ClipInput:
    """An onset image and an apex image (same size) as a two-frame clip: the flow runs from one to the other."""
    import cv2

    item = ClipInput(f"{onset_image} + {apex_image}", "pair", frames=2)
    shapes = []
    for role, path in (("onset", onset_image), ("apex", apex_image)):
        image = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE) if Path(path).is_file() else None
        if image is None or image.size == 0:
            return item.skip("read", f"the {role} image {path} is missing or unreadable")
        shapes.append(image.shape)
    if shapes[0] != shapes[1]:
        (h0, w0), (h1, w1) = shapes
        return item.skip("read", f"the onset image is {w0}x{h0}, the apex image {w1}x{h1}; a pair must share a size")
    paths = (str(Path(onset_image).resolve()), str(Path(apex_image).resolve()))
    item.sample = Sample(DATASET, DATASET, _clip_name(index, onset_image), "", 0, 1, 1, paths, (0, 1))
    return item


def _sample(index: int, name: str, paths: Sequence[str], numbers: Sequence[int], onset: int | None,
            apex: int | None) -> Sample:
    return Sample(DATASET, DATASET, _clip_name(index, name), "", numbers[0] if onset is None else onset, apex,
                  numbers[-1], tuple(str(Path(p).resolve()) for p in paths), tuple(numbers))


def resolve_inputs(paths: Sequence[str | Path], work: Path, *, onset_frame: int | None = None,
                   apex_frame: int | None = None, pair: tuple[str, str] | None = None) -> list[ClipInput]:
    """Every input (folders expanded) as a :class:`ClipInput`; videos are decoded into ``work``.

    ``onset_frame`` / ``apex_frame`` apply to every frame folder (the number in the file names) and video (the
    frame index from 0); a pair is always onset -> apex.
    """
    items = []
    for index, (path, kind) in enumerate(expand_inputs(paths)):
        if kind == "frames":
            items.append(frames_input(index, path, onset_frame, apex_frame))
        else:
            items.append(video_input(index, path, work, onset_frame, apex_frame))
    if pair is not None:
        items.append(pair_input(len(items), *pair))
    return items


# ---- processing -------------------------------------------------------------------------------------------


def process_inputs(items: Sequence[ClipInput], config, work: Path, *, use_ray: bool | None = None,
                   log=print) -> list[ClipOutcome]:
    """Run every usable input through the per-clip pipeline code; one :class:`ClipOutcome` per input, in order.

    Args:
        items: resolved inputs.
        config: the ``PreprocessConfig`` to apply (a bundle's own, for prediction).
        work: a scratch folder (the Ray Data pipeline writes its shards there).
        use_ray: the Ray Data pipeline (True), this process (False), or Ray from :data:`RAY_MIN_CLIPS` clips on
            (None). Ray must then be initialised or is started locally here.
    """
    samples = [item.sample for item in items if item.sample is not None]
    use_ray = len(samples) >= RAY_MIN_CLIPS if use_ray is None else use_ray
    if not samples:
        results: dict[str, dict[str, Any]] = {}
    elif use_ray:
        results = _run_ray(samples, config, work)
    else:
        results = _run_here(samples, config)
    outcomes = []
    for item in items:
        if item.sample is None:
            outcomes.append(ClipOutcome(item, False, item.stage, item.reason))
            continue
        row = results[item.sample.sample_id]
        if row["status"] != "ok":
            outcomes.append(ClipOutcome(item, False, row.get("stage") or "", row.get("reason") or "",
                                        onset=item.sample.onset))
            continue
        outcomes.append(ClipOutcome(item, True, onset=item.sample.onset, apex=int(row["apex"]),
                                    apex_spotted=bool(row["apex_spotted"]), warnings=list(row.get("warnings") or []),
                                    arrays={name: np.asarray(row[name]) for name in ARRAY_NAMES}))
    return outcomes


def _run_here(samples: Sequence[Sample], config) -> dict[str, dict[str, Any]]:
    """Each sample through ``process_row`` in this process (one dlib aligner), as a ``ClipProcessor`` runs it."""
    import cv2

    from preprocessing.features import shard_rows, shard_schema
    from preprocessing.features.pipeline import process_row
    from preprocessing.vision.alignment import FaceAligner

    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)  # what the pipeline's actors use: the same TV-L1 arithmetic, the same features
    try:
        aligner = FaceAligner(config.align)
        rows = {s.sample_id: process_row(shard_rows.sample_to_row(s), config, aligner) for s in samples}
    finally:
        cv2.setNumThreads(threads)
    for row in rows.values():
        if row["status"] == shard_schema.OK:
            row["flow"] = np.asarray(row["flow"], np.float32)  # (4, S, S)
    return rows


def _run_ray(samples: Sequence[Sample], config, work: Path) -> dict[str, dict[str, Any]]:
    """The samples through the Ray Data pipeline into ``work/features``; rows read back from its shards."""
    from mer_ray.infra.runtime import init_ray
    from preprocessing.features import shard_schema, shards
    from preprocessing.features.pipeline import PipelineError, run_pipeline

    init_ray(None, progress_bars=False)  # a no-op where Ray already runs
    out = work / "features"
    try:
        run_pipeline(samples, out, config, clips_per_block=max(1, -(-len(samples) // 8)))
    except PipelineError:  # none of the clips could be processed: the shards still say why
        pass
    ids = [s.sample_id for s in samples]
    status = {row["sample_id"]: row for row in shards.read_status(out, ids).to_pylist()}
    stored = shards.read_shard_rows(out, ["sample_id", "warnings"]).to_pylist()
    warnings = {r["sample_id"]: r["warnings"] for r in stored}
    ok = [sid for sid in ids if status.get(sid, {}).get("status") == shard_schema.OK]
    arrays = shards.read_arrays(out, ok, ARRAY_NAMES)[0] if ok else {}
    rows = {}
    for sid in ids:
        row = dict(status.get(sid) or {"status": "rejected", "stage": "pipeline", "reason": "no row after the run"})
        row["warnings"] = warnings.get(sid) or []
        if sid in ok:
            i = ok.index(sid)
            row.update({name: arrays[name][i] for name in ARRAY_NAMES})
        rows[sid] = row
    return rows
