"""What a spotting run reads: the long videos, their truth, and each video's per-frame motion summary.

- :func:`long_demo_root`: the long-video demo generated once into the cache (deterministic: the same seed and
  size give the same files; generated in a scratch folder and renamed into place under a lock).
- :func:`load_long_videos`: a CAS(ME)^2 or SAMM Long Videos root (or the demo) as :class:`SpotData`: videos,
  ground-truth intervals, the sheet's recorded skips.
- :func:`summarise`: one video's per-frame motion (``scores.video_scores``) reduced to what the spotters use,
  :class:`MotionSummary` (per flow distance k: the sorted per-cell magnitudes of the contrast ``d_t``, which the
  baseline reads; and the residual cell flows, their removed affine parts and the cells' face regions, which the
  learned spotter's features read: ``features.py``); an unreadable video is a :class:`VideoSkip` with its
  reason, never an exception. Saved summaries carry ``SUMMARY_VERSION``: one of another version (or none) is
  :class:`StaleSummary` when read, and a run scores that video again.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mer_ray.spotting.intervals import Interval

DEMO_SIZES: dict[str, dict] = {
    "smoke": {"n_subjects": 3, "videos_per_subject": 1, "seconds": 10.0},  # preprocessing.long_videos.demo.SMOKE
    "demo": {"n_subjects": 6, "videos_per_subject": 2, "seconds": 30.0},
}
KEEP_CELLS = 16  # sorted cell magnitudes kept per frame and k (the score uses the top few)
SUMMARY_VERSION = 2  # 1: sorted magnitudes only; 2: + residual cell flows, affine parts, cell regions and mask


class StaleSummary(ValueError):
    """A saved motion summary of another ``SUMMARY_VERSION``: score the video again."""


@dataclass
class SpotData:
    """Long videos with their truth. ``videos``: key ``"subject/video"`` -> {"subject", "folder", "n_frames"}."""

    dataset: str
    fps: float
    root: Path
    videos: dict[str, dict]
    truth: dict[str, list[Interval]]
    skips: list[str] = field(default_factory=list)

    @property
    def subject_of(self) -> dict[str, str]:
        return {key: info["subject"] for key, info in self.videos.items()}


@dataclass
class MotionSummary:
    """Per frame and flow distance k: the cell magnitudes of ``d_t = f_{t-k} - f_t``, sorted, largest first (the
    baseline's input); and for the learned spotter's features the cell flows ``f_t`` themselves (affine part
    removed), the removed affine parts and each cell's face region (empty / None in a summary built from
    magnitudes only: the features then use the magnitudes alone)."""

    frame_numbers: np.ndarray  # (n,)
    mags: dict[int, np.ndarray]  # k -> (n, KEEP_CELLS) float32, NaN where d_t is undefined
    notes: list[str] = field(default_factory=list)
    cells: dict[int, np.ndarray] = field(default_factory=dict)  # k -> (n, grid, grid, 2) float32 residual f_t
    rigid: dict[int, np.ndarray] = field(default_factory=dict)  # k -> (n, 3, 2) float32 removed affine part of f_t
    regions: np.ndarray | None = None  # (grid, grid) int8 index into scores.REGIONS
    cell_mask: np.ndarray | None = None  # (grid, grid) bool: the cells the baseline scores (eyes left out)

    def scores(self, k: int, top: int) -> np.ndarray:
        """The baseline score (``VideoMotion.scores``): mean of the ``top`` largest cell magnitudes."""
        return self.mags[k][:, :top].astype(np.float64).mean(axis=1)

    def to_npz(self, path: Path) -> None:
        from mer_ray.infra.atomic import atomic_path

        arrays = {"version": np.int64(SUMMARY_VERSION), "frame_numbers": self.frame_numbers}
        arrays.update({f"mags_{k}": v for k, v in self.mags.items()})
        arrays.update({f"cells_{k}": v for k, v in self.cells.items()})
        arrays.update({f"rigid_{k}": v for k, v in self.rigid.items()})
        if self.regions is not None:
            arrays["regions"] = self.regions
        if self.cell_mask is not None:
            arrays["cell_mask"] = self.cell_mask
        with atomic_path(path) as tmp, open(tmp, "wb") as f:
            np.savez(f, **arrays)

    @classmethod
    def from_npz(cls, path: Path) -> MotionSummary:
        """The summary saved at ``path``; :class:`StaleSummary` when it was saved by another version."""
        with np.load(path) as z:
            version = int(z["version"]) if "version" in z.files else 1
            if version != SUMMARY_VERSION:
                raise StaleSummary(f"{path}: motion summary version {version}, expected {SUMMARY_VERSION}")

            def per_k(prefix: str) -> dict[int, np.ndarray]:
                return {int(name.split("_")[1]): z[name] for name in z.files if name.startswith(prefix + "_")}

            return cls(frame_numbers=z["frame_numbers"], mags=per_k("mags"), cells=per_k("cells"),
                       rigid=per_k("rigid"), regions=z["regions"] if "regions" in z.files else None,
                       cell_mask=z["cell_mask"] if "cell_mask" in z.files else None)


@dataclass(frozen=True)
class VideoSkip:
    video: str
    reason: str

    def __str__(self) -> str:
        return f"{self.video}: {self.reason}"


def summarise_motion(motion) -> MotionSummary:
    """A ``scores.VideoMotion`` as a :class:`MotionSummary`: the sorted cell magnitudes of ``d_t`` for each of its
    k (computed exactly as before: the baseline's scores do not change), and its cell flows, affine parts, regions
    and mask as they are."""
    mags = {}
    for k, f in motion.cells.items():
        n = f.shape[0]
        out = np.full((n, KEEP_CELLS), np.nan, dtype=np.float32)
        if n > 2 * k:
            d = f[: n - 2 * k] - f[k: n - k]
            m = np.sqrt((d.astype(np.float64) ** 2).sum(axis=-1))[:, motion.cell_mask]
            m = np.sort(m, axis=1)[:, ::-1][:, :KEEP_CELLS]
            out[k: n - k, : m.shape[1]] = m
        mags[int(k)] = out
    return MotionSummary(frame_numbers=np.asarray(motion.frame_numbers), mags=mags, notes=list(motion.notes),
                         cells={int(k): np.asarray(f, dtype=np.float32) for k, f in motion.cells.items()},
                         rigid={int(k): np.asarray(r, dtype=np.float32) for k, r in motion.rigid.items()},
                         regions=None if motion.regions is None else np.asarray(motion.regions, dtype=np.int8),
                         cell_mask=np.asarray(motion.cell_mask, dtype=bool))


def summarise(folder: str | Path, ks: tuple[int, ...], key: str = "") -> MotionSummary | VideoSkip:
    """One video's :class:`MotionSummary`, or a :class:`VideoSkip` naming why it could not be read."""
    from mer_ray.spotting.scores import ScoreConfig, frame_files, video_scores
    from preprocessing.vision.alignment import AlignmentError

    key = key or str(folder)
    try:
        frames = frame_files(folder)
    except OSError as err:
        return VideoSkip(key, f"unreadable video folder {folder}: {err.strerror or err}")
    if len(frames) <= 2 * max(ks) + 1:
        return VideoSkip(key, f"{len(frames)} frames: shorter than the scoring window (more than {2 * max(ks) + 1} "
                              "frames needed)")
    try:
        motion = video_scores(frames, ScoreConfig(ks=tuple(ks)))
    except AlignmentError as err:
        return VideoSkip(key, f"no face found at the start of the video ({err})")
    except (OSError, ValueError, RuntimeError) as err:  # cv2.error is an Exception subclass of its own
        return VideoSkip(key, f"unreadable video: {err}")
    except Exception as err:  # noqa: BLE001 (OpenCV's cv2.error on a truncated or corrupt image)
        if type(err).__module__.startswith("cv2"):
            return VideoSkip(key, f"unreadable video: {err}")
        raise
    return summarise_motion(motion)


def ks_for(fps: float) -> tuple[int, int]:
    """The micro and macro flow distances at ``fps`` (0.2 s and 0.5 s: 6 and 15 frames at 30 fps)."""
    return max(int(round(0.2 * fps)), 1), max(int(round(0.5 * fps)), 1)


def long_demo_root(size: str = "demo", seed: int = 0, cache: Path | None = None) -> Path:
    """The long-video demo of ``size`` (``DEMO_SIZES``) and ``seed`` in the cache, generated on first use."""
    from mer_ray.infra.locks import exclusive, keyed_lock_path
    from mer_ray.infra.runtime import cache_root
    from preprocessing.long_videos.demo import MANIFEST, VERSION, generate_long_demo

    params = DEMO_SIZES[size]
    root = (cache or cache_root()) / "long_demo" / f"v{VERSION}-{size}-seed{seed}"
    if (root / MANIFEST).is_file():
        return root
    with exclusive(keyed_lock_path(root), f"generating the long-video demo into {root}"):
        if (root / MANIFEST).is_file():
            return root
        scratch = root.with_name(f".{root.name}.tmp-{os.getpid()}")
        shutil.rmtree(scratch, ignore_errors=True)
        generate_long_demo(scratch, seed=seed, **params)
        shutil.rmtree(root, ignore_errors=True)
        scratch.rename(root)
    return root


def load_long_videos(dataset: str, root: str | Path) -> SpotData:
    """``dataset`` ("casme2" or "samm"; the demo is CAS(ME)^2's layout) at ``root`` as :class:`SpotData`.

    Raises:
        DatasetError: the sheet or its sheets are missing (nothing could be read).
    """
    from preprocessing.annotations.sample import DatasetError
    from preprocessing.long_videos.sheets import read_casme2_long, read_samm_long

    root = Path(root)
    if dataset == "casme2":
        data = read_casme2_long(root / "CAS(ME)^2code_final.xlsx", root)
    elif dataset == "samm":
        sheets = sorted(root.glob("*.xlsx"))
        if not sheets:
            raise DatasetError(f"{root}: no SAMM Long Videos workbook (*.xlsx) found")
        data = read_samm_long(sheets[0], root)
    else:
        raise DatasetError(f"unknown long-video dataset {dataset!r}: expected casme2 or samm")
    truth = {key: [Interval(i.onset, i.offset, i.kind, i.emotion) for i in items]
             for key, items in data.by_video().items() if key in data.videos}
    videos = {key: {"subject": info["subject"], "folder": str(info["folder"]) if info.get("folder") else None,
                    "n_frames": int(info.get("n_frames") or 0)} for key, info in data.videos.items()}
    return SpotData(dataset=dataset, fps=float(data.fps), root=root, videos=videos, truth=truth,
                    skips=[str(s) for s in data.skips])


def truth_frames(truth: Mapping[str, list[Interval]], key: str, frame_numbers: np.ndarray) -> np.ndarray:
    """(n,) int label per frame: 0 none, 1 inside a micro interval, 2 inside a macro interval."""
    labels = np.zeros(frame_numbers.size, dtype=np.int64)
    for g in truth.get(key, ()):
        inside = (frame_numbers >= g.onset) & (frame_numbers <= g.offset)
        labels[inside] = 1 if g.kind == "micro" else 2
    return labels
