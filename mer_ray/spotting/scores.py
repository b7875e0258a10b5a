"""Per-frame motion scores of a long video: align once per chunk, fast optical flow k frames apart, ROI cells.

Pipeline for one video (frames read from disk chunk by chunk, never all at once):

1. Alignment: dlib detection + 68 landmarks on the first frame of each chunk (``preprocessing/vision/
   alignment.py``'s ``FaceAligner``, the same transform recognition uses), applied to every frame of the chunk and
   to the ``k`` frames that follow it; between chunks the face is re-fitted, which tracks slow head drift. A chunk
   whose first frame has no face reuses the previous fit (recorded in ``VideoMotion.notes``).
2. Flow: ``f_t`` = flow from aligned frame ``t`` to ``t + k`` with a fast method (``FLOW_METHODS``: OpenCV DIS
   by default; Farneback; TV-L1 for reference; ``compare_flow_methods`` measures time and agreement). The rigid
   part of each flow (least-squares affine over the face) is removed: head translation, roll and zoom do not score.
3. Cells: the residual flow is averaged over a ``grid x grid`` lattice of cells on the aligned face (cells over
   the eyes left out when ``mask_eyes``: blinks are the commonest non-expression motion).
4. Score (the feature-difference contrast of the MEGC baselines, on flow): ``d_t = f_{t-k} - f_t`` per cell,
   i.e. the motion INTO frame t from k frames before minus the motion OUT of it k frames later (~ the flow from
   both neighbours toward t). A movement that rises and falls within ~2k frames peaks once, at its apex; steady
   drift cancels. ``score_t`` = mean of the ``top`` largest cell magnitudes ``|d_t|``. Frames without both
   pairs (the first and last k) are NaN.

Scores for a micro and a macro spotter come from two flow passes (their own k); ``video_scores`` computes both
in one read of the frames. Beside the residual cell flows it keeps each flow's removed affine part
(``VideoMotion.rigid``: the head's translation / roll / zoom between t and t + k) and which face region each cell
covers (``VideoMotion.regions``, from the landmarks: ``REGIONS``), for the learned spotter's features.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

FRAME_NUMBER = re.compile(r"(\d+)(?=\.[A-Za-z]+$)")


def _dis() -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    solver = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    return lambda a, b: solver.calc(a, b, None)


def _farneback() -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    return lambda a, b: cv2.calcOpticalFlowFarneback(a, b, None, 0.5, 3, 11, 3, 5, 1.1, 0)


def _tvl1() -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    from preprocessing.vision.flow import FlowConfig

    solver = FlowConfig().create()
    return lambda a, b: solver.calc(a, b, None)


FLOW_METHODS: dict[str, Callable[[], Callable[[np.ndarray, np.ndarray], np.ndarray]]] = {
    "dis": _dis, "farneback": _farneback, "tvl1": _tvl1,
}


@dataclass(frozen=True)
class ScoreConfig:
    """How per-frame scores are computed (the spotter's hyperparameters live in ``baseline.SpotterConfig``)."""

    ks: tuple[int, ...] = (6, 15)  # flow distances to compute (one pass each): micro and macro at 30 fps
    size: int = 128  # aligned face side, px
    method: str = "dis"  # one of FLOW_METHODS
    grid: int = 8  # cells per side
    top: int = 4  # score = mean of the `top` largest cell magnitudes
    mask_eyes: bool = True  # leave out cells over the eyes (blinks)
    chunk: int = 300  # frames per alignment fit
    margin: float = 0.1  # alignment margin (fraction of the landmark extent)

    def __post_init__(self) -> None:
        if self.method not in FLOW_METHODS:
            raise ValueError(f"ScoreConfig.method={self.method!r}: expected one of {sorted(FLOW_METHODS)}")
        if not self.ks or min(self.ks) < 1:
            raise ValueError(f"ScoreConfig.ks={self.ks}: expected one or more distances >= 1")
        if self.grid < 2 or not 1 <= self.top <= self.grid * self.grid or self.chunk < 2 or self.size < 32:
            raise ValueError(f"ScoreConfig: grid >= 2, 1 <= top <= grid^2, chunk >= 2, size >= 32 expected: {self}")


REGIONS = ("other", "brows", "eyes", "nose", "mouth", "chin")  # cell labels of ``cell_regions`` (index = label)
_REGION_LANDMARKS = {1: range(17, 27), 3: range(27, 36), 4: range(48, 68), 5: range(5, 12)}  # 68-point indices


@dataclass
class VideoMotion:
    """A video's per-frame cell flows for each k and the derived scores."""

    frame_numbers: np.ndarray  # (n,) the frames' own numbers
    cells: dict[int, np.ndarray]  # k -> (n, grid, grid, 2) mean residual flow of pair (t, t + k); NaN past the end
    cell_mask: np.ndarray  # (grid, grid) bool: cells scored
    notes: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)  # stage -> CPU seconds (read, align, flow, cells), wall
    rigid: dict[int, np.ndarray] = field(default_factory=dict)  # k -> (n, 3, 2) removed affine part (affine_part)
    regions: np.ndarray | None = None  # (grid, grid) int8 index into REGIONS (cell_regions)

    def scores(self, k: int, top: int) -> np.ndarray:
        """(n,) score per frame for distance ``k`` (NaN for the first and last k frames)."""
        f = self.cells[k]
        n = f.shape[0]
        out = np.full(n, np.nan)
        if n <= 2 * k:
            return out
        d = f[: n - 2 * k] - f[k: n - k]  # d_t for t = k .. n-k-1: f_{t-k} - f_t
        mag = np.sqrt((d ** 2).sum(axis=-1))[:, self.cell_mask]  # (m, cells)
        mag = np.sort(mag, axis=1)[:, ::-1][:, :top]
        out[k: n - k] = mag.mean(axis=1)
        return out


def frame_files(folder: str | Path) -> list[tuple[int, Path]]:
    """``(number, path)`` of a video folder's images, sorted by the number in the name (``img10`` after ``img9``)."""
    found = []
    for path in Path(folder).iterdir():
        m = FRAME_NUMBER.search(path.name)
        if m and path.suffix.lower() in (".jpg", ".jpeg", ".png", ".bmp"):
            found.append((int(m.group(1)), path))
    return sorted(found)


def affine_basis(size: int, stride: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """Sample coordinates (stride grid) and the pseudo-inverse of the affine design matrix [1, x, y]."""
    ys, xs = np.mgrid[0:size:stride, 0:size:stride].astype(np.float64)
    design = np.stack([np.ones(xs.size), xs.ravel() / size, ys.ravel() / size], axis=1)
    return design, np.linalg.pinv(design)


def affine_part(flow: np.ndarray, pinv: np.ndarray, stride: int = 4) -> np.ndarray:
    """(3, 2) coefficients of the least-squares affine flow ``c0 + c1 x / size + c2 y / size`` (stride samples)."""
    return pinv @ flow[::stride, ::stride].reshape(-1, 2).astype(np.float64)


def remove_affine(flow: np.ndarray, design: np.ndarray, pinv: np.ndarray, stride: int = 4) -> np.ndarray:
    """``flow`` minus its least-squares affine part (fitted on a stride grid): the non-rigid residual."""
    size = flow.shape[0]
    coef = affine_part(flow, pinv, stride)
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float64)
    rigid = coef[0] + (xs[..., None] / size) * coef[1] + (ys[..., None] / size) * coef[2]
    return (flow - rigid).astype(np.float32)


def cell_means(flow: np.ndarray, grid: int) -> np.ndarray:
    """(grid, grid, 2) mean flow of each cell (the side must be divisible by ``grid``; it is cropped otherwise)."""
    size = flow.shape[0] // grid * grid
    f = flow[:size, :size].reshape(grid, size // grid, grid, size // grid, 2)
    return f.mean(axis=(1, 3))


def residual_cells(flow: np.ndarray, pinv: np.ndarray, grid: int, stride: int = 4) -> np.ndarray:
    """``cell_means(remove_affine(flow))`` without building the full rigid field: an affine flow's mean over a
    cell is its value at the cell's centre."""
    return residual_cells_and_rigid(flow, pinv, grid, stride)[0]


def rigid_at_cells(coef: np.ndarray, size: int, grid: int) -> np.ndarray:
    """(..., grid, grid, 2) the affine flow(s) ``coef`` ((..., 3, 2), ``affine_part``) at the cell centres."""
    cell = (size // grid * grid) / grid
    centres = (np.arange(grid) + 0.5) * cell - 0.5
    xs, ys = np.meshgrid(centres / size, centres / size)
    coef = np.asarray(coef)
    c0, c1, c2 = (coef[..., i, None, None, :] for i in range(3))
    return c0 + xs[..., None] * c1 + ys[..., None] * c2


def residual_cells_and_rigid(flow: np.ndarray, pinv: np.ndarray, grid: int,
                             stride: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """(``residual_cells``, the removed affine part's (3, 2) coefficients as float32)."""
    size = flow.shape[0]
    coef = affine_part(flow, pinv, stride)
    rigid = rigid_at_cells(coef, size, grid)
    return (cell_means(flow, grid) - rigid).astype(np.float32), coef.astype(np.float32)


def cell_regions(landmarks: np.ndarray, size: int, grid: int) -> np.ndarray:
    """(grid, grid) int8 face region of each cell of the aligned face (index into ``REGIONS``).

    Eyes: the cells holding an eye landmark (36-47; the cells ``eye_cell_mask`` leaves out). Every other cell takes
    the region of its nearest landmark (brows 17-26, nose 27-35, mouth 48-67, chin 5-11) when that landmark lies
    within one cell of its centre; cells nearest the jaw's sides, or farther from every landmark (forehead,
    cheeks, background), are ``other``.
    """
    points = np.asarray(landmarks, dtype=np.float64)
    cell = size / grid
    labels = np.zeros((grid, grid), dtype=np.int8)
    group = np.zeros(len(points), dtype=np.int8)
    for label, index in _REGION_LANDMARKS.items():
        group[list(index)] = label
    centres = (np.arange(grid) + 0.5) * cell
    for r, cy in enumerate(centres):
        for c, cx in enumerate(centres):
            dist = np.hypot(points[:, 0] - cx, points[:, 1] - cy)
            dist[36:48] = np.inf
            nearest = int(np.argmin(dist))
            if dist[nearest] <= cell:
                labels[r, c] = group[nearest]
    labels[~eye_cell_mask(points, size, grid)] = REGIONS.index("eyes")
    return labels


def template_regions(grid: int) -> np.ndarray:
    """(grid, grid) int8 regions by height on an aligned face, for motion kept without landmarks."""
    rows = (np.arange(grid) + 0.5) / grid
    bands = np.digitize(rows, [0.15, 0.3, 0.45, 0.65, 0.85])  # forehead, brows, eyes, nose, mouth, chin
    by_band = np.array([0, 1, 2, 3, 4, 5], dtype=np.int8)
    return np.repeat(by_band[bands][:, None], grid, axis=1)


def eye_cell_mask(landmarks: np.ndarray, size: int, grid: int) -> np.ndarray:
    """(grid, grid) bool, False on the cells holding eye landmarks (36-47) in the aligned face."""
    mask = np.ones((grid, grid), dtype=bool)
    cell = size / grid
    for x, y in np.asarray(landmarks)[36:48]:
        mask[min(max(int(y // cell), 0), grid - 1), min(max(int(x // cell), 0), grid - 1)] = False
    return mask


def video_scores(frames: Sequence[tuple[int, Path]] | str | Path, config: ScoreConfig | None = None,
                 aligner=None) -> VideoMotion:
    """Cell flows of one video for every ``config.ks`` (see the module docstring).

    Args:
        frames: ``(number, path)`` pairs in order, or the video's frame folder.
        config: score settings.
        aligner: a ``preprocessing.vision.alignment.FaceAligner`` to reuse (one per process is enough).

    Raises:
        AlignmentError: no face in the first chunk's first frame.
    """
    from preprocessing.vision.alignment import AlignConfig, AlignmentError, FaceAligner

    config = config or ScoreConfig()
    if not isinstance(frames, Sequence) or isinstance(frames, str):
        frames = frame_files(frames)
    aligner = aligner or FaceAligner(AlignConfig(size=config.size, margin=config.margin, upsample=0))
    n, kmax = len(frames), max(config.ks)
    flow_fn = FLOW_METHODS[config.method]()
    design, pinv = affine_basis(config.size)
    cells = {k: np.full((n, config.grid, config.grid, 2), np.nan, dtype=np.float32) for k in config.ks}
    rigid = {k: np.full((n, 3, 2), np.nan, dtype=np.float32) for k in config.ks}
    regions = None
    seconds = {"read": 0.0, "align": 0.0, "flow": 0.0, "cells": 0.0}  # CPU seconds (the machine may be shared)
    wall = time.perf_counter()
    notes: list[str] = []
    alignment, mask = None, None
    for start in range(0, n, config.chunk):
        stop = min(start + config.chunk, n)
        t0 = time.process_time()
        grey = [cv2.imread(str(path), cv2.IMREAD_GRAYSCALE) for _, path in frames[start:min(stop + kmax, n)]]
        for i, image in enumerate(grey):  # an unreadable frame: its neighbour stands in (noted), never a crash
            if image is None:
                stand_in = next((g for g in grey[i::-1] + grey[i:] if g is not None), None)
                if stand_in is None:
                    raise OSError(f"frames {frames[start][1]}..{frames[min(stop + kmax, n) - 1][1]}: none readable")
                grey[i] = stand_in
                if start + i < stop:
                    notes.append(f"{frames[start + i][1]}: unreadable image; used a neighbouring frame")
        t1 = time.process_time()
        seconds["read"] += t1 - t0
        try:
            alignment = aligner.fit(grey[0])
        except AlignmentError as error:
            if alignment is None:
                raise
            notes.append(f"frame {frames[start][0]}: {error.reason}; kept the previous chunk's alignment")
        if mask is None:
            mask = (eye_cell_mask(alignment.landmarks, config.size, config.grid) if config.mask_eyes
                    else np.ones((config.grid, config.grid), dtype=bool))
            regions = cell_regions(alignment.landmarks, config.size, config.grid)
        aligned = [aligner.apply(alignment, g) for g in grey]
        t2 = time.process_time()
        seconds["align"] += t2 - t1
        for k in config.ks:
            for t in range(start, stop):
                if t + k >= n:
                    break
                a = time.process_time()
                flow = flow_fn(aligned[t - start], aligned[t + k - start])
                b = time.process_time()
                cells[k][t], rigid[k][t] = residual_cells_and_rigid(flow, pinv, config.grid)
                seconds["flow"] += b - a
                seconds["cells"] += time.process_time() - b
    seconds["wall"] = time.perf_counter() - wall
    return VideoMotion(frame_numbers=np.array([number for number, _ in frames]), cells=cells,
                       cell_mask=mask if mask is not None else np.ones((config.grid, config.grid), dtype=bool),
                       notes=notes, seconds=seconds, rigid=rigid, regions=regions)


def compare_flow_methods(pairs: Sequence[tuple[np.ndarray, np.ndarray]], methods: Sequence[str] = ("dis", "farneback"),
                         reference: str = "tvl1", grid: int = 8) -> dict[str, dict[str, float]]:
    """Time and agreement of fast flow methods against ``reference`` (TV-L1) on aligned grey frame pairs.

    Returns:
        method -> ``{"ms_per_pair" (wall), "cpu_ms_per_pair" (all threads), "epe_px" (mean endpoint
        difference to the reference's flow, after removing the affine part of both), "cell_corr" (correlation of
        the residual cell magnitudes with the reference's)}``; the reference's own entry has only its time.
    """
    size = pairs[0][0].shape[0]
    design, pinv = affine_basis(size)
    results: dict[str, dict[str, float]] = {}
    flows: dict[str, list[np.ndarray]] = {}
    for name in (reference, *methods):
        fn = FLOW_METHODS[name]()
        fn(*pairs[0])  # warm-up (allocations)
        start, cpu = time.perf_counter(), time.process_time()
        out = [fn(a, b) for a, b in pairs]
        results[name] = {"ms_per_pair": 1000 * (time.perf_counter() - start) / len(pairs),
                         "cpu_ms_per_pair": 1000 * (time.process_time() - cpu) / len(pairs)}
        flows[name] = [remove_affine(f, design, pinv) for f in out]
    ref_cells = np.concatenate([np.linalg.norm(cell_means(f, grid), axis=-1).ravel() for f in flows[reference]])
    for name in methods:
        epe = np.mean([np.linalg.norm(f - r, axis=-1).mean() for f, r in zip(flows[name], flows[reference])])
        cells = np.concatenate([np.linalg.norm(cell_means(f, grid), axis=-1).ravel() for f in flows[name]])
        results[name]["epe_px"] = float(epe)
        results[name]["cell_corr"] = float(np.corrcoef(cells, ref_cells)[0, 1])
    return results
