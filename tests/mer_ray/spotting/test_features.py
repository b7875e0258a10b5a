"""The learned spotter's richer motion features (``features.py``) on known-answer flow sequences, the cell regions,
and the versioned motion summaries that carry them."""

from __future__ import annotations

import numpy as np
import pytest

from mer_ray.spotting import features as F
from mer_ray.spotting.data import MotionSummary, StaleSummary, summarise_motion
from mer_ray.spotting.learned import frame_features
from mer_ray.spotting.scores import (
    REGIONS,
    VideoMotion,
    affine_basis,
    cell_regions,
    eye_cell_mask,
    residual_cells,
    residual_cells_and_rigid,
    template_regions,
)

K = 6
GRID = 8


def _flows(position: np.ndarray, k: int = K) -> np.ndarray:
    """Cell flows ``f_t = x(t + k) - x(t)`` of cell positions ``x`` (n, g, g, 2); NaN for the last k frames."""
    n = position.shape[0]
    f = np.full(position.shape, np.nan, dtype=np.float32)
    f[: n - k] = position[k:] - position[: n - k]
    return f


def _bump(n: int, centre: int, half: int) -> np.ndarray:
    t = np.arange(n)
    return np.clip(1 - np.abs(t - centre) / half, 0, None)


def _face_landmarks(size: int = 128) -> np.ndarray:
    """A plausible 68-point layout on an aligned ``size`` face (fractions of the side)."""
    pts = np.zeros((68, 2))
    pts[0:17] = np.stack([np.linspace(0.1, 0.9, 17), 0.55 + 0.35 * np.sin(np.linspace(0, np.pi, 17))], axis=1)
    pts[17:27] = np.stack([np.r_[np.linspace(0.2, 0.42, 5), np.linspace(0.58, 0.8, 5)], np.full(10, 0.24)], axis=1)
    pts[27:36] = np.stack([np.r_[np.full(4, 0.5), np.linspace(0.42, 0.58, 5)], np.r_[np.linspace(0.36, 0.55, 4),
                                                                                       np.full(5, 0.6)]], axis=1)
    pts[36:48] = np.stack([np.r_[np.linspace(0.25, 0.4, 6), np.linspace(0.6, 0.75, 6)], np.full(12, 0.4)], axis=1)
    pts[48:68] = np.stack([np.linspace(0.36, 0.64, 20), 0.76 + 0.03 * np.sin(np.linspace(0, 2 * np.pi, 20))], axis=1)
    return pts * size


def test_a_movement_that_rises_and_falls_within_k_frames_returns_to_neutral():
    n, apex = 120, 60
    position = np.zeros((n, GRID, GRID, 2), dtype=np.float32)
    position[:, 5, 2, 1] = 1.0 * _bump(n, apex, K // 2)  # a 1-px push at one mouth cell, back within k frames
    step = np.zeros((n, GRID, GRID, 2), dtype=np.float32)
    step[:, 5, 2, 1] = np.clip((np.arange(n) - apex + K // 2) / K, 0, 1)  # the same push that stays (a macro onset)
    mask, regions = np.ones((GRID, GRID), bool), template_regions(GRID)
    top, share, by_region = F.return_to_neutral(_flows(position), K, mask, regions, top=1)
    assert top[apex] == pytest.approx(2.0, abs=1e-5)  # |f_{t-k}| + |f_t| - |f_{t-k} + f_t| = 1 + 1 - 0
    assert share[apex] == pytest.approx(1.0, abs=1e-5)  # all the motion into t goes back out of it
    assert by_region[apex, regions[5, 2]] == pytest.approx(2.0 / (regions == regions[5, 2]).sum(), abs=1e-5)
    assert np.nanmax(top[: apex - 2 * K]) == 0 and np.isnan(top[:K]).all() and np.isnan(top[-K:]).all()
    stay_top, stay_share, _ = F.return_to_neutral(_flows(step), K, mask, regions, top=1)
    assert np.nanmax(stay_top) <= 0.34 and np.nanmax(stay_top) < 0.2 * top[apex]  # it does not come back
    # the contrast |d_t| sees both (the step's at its end, where the motion into t stops); only the return to
    # neutral tells them apart
    assert F.region_magnitudes(_flows(step), K, regions)[apex + K // 2].max() == pytest.approx(1 / 16)  # 1 of 16 cells


def test_deformation_stays_up_while_an_expression_is_held():
    n = 400
    position = np.zeros((n, GRID, GRID, 2), dtype=np.float32)
    held = np.clip((np.arange(n) - 150) / 10, 0, 1) * np.clip((260 - np.arange(n)) / 10, 0, 1)  # held 150-260
    position[:, 2, 3, 1] = -2.0 * held  # a brow raise (image up) held for ~3.5 s
    mask, regions = np.ones((GRID, GRID), bool), template_regions(GRID)
    top, by_region = F.deformation(_flows(position), K, mask, regions, width=301, top=1)
    assert top[200] == pytest.approx(2.0, abs=0.05) and top[80] < 0.05 and top[330] < 0.05
    assert by_region[200].argmax() == regions[2, 3]
    vertical, outward, divergence = F.region_directions(_flows(position), K, regions)
    onset = 160  # the contrast where the rise ends: the motion into t is upward, none goes out
    assert vertical[onset, regions[2, 3]] < 0 and abs(outward[onset, regions[2, 3]]) < 1e-9


def test_head_translation_is_removed_and_measured_as_head_motion():
    size = 64
    design, pinv = affine_basis(size)
    n = 60
    head = 3.0 * _bump(n, 30, 4)  # the head moves 3 px right and back (a quick nod): a rigid flow
    cells = np.zeros((n, 4, 4, 2), dtype=np.float32)
    rigid = np.zeros((n, 3, 2), dtype=np.float32)
    for t in range(n - K):
        flow = np.zeros((size, size, 2), dtype=np.float32)
        flow[..., 0] = head[t + K] - head[t]
        cells[t], rigid[t] = residual_cells_and_rigid(flow, pinv, 4)
        np.testing.assert_array_equal(cells[t], residual_cells(flow, pinv, 4))
    cells[n - K:], rigid[n - K:] = np.nan, np.nan
    mask, regions = np.ones((4, 4), bool), template_regions(4)
    assert np.abs(cells[: n - K]).max() < 1e-4  # the translation leaves no residual
    assert np.nanmax(F.region_magnitudes(cells, K, regions)) < 1e-4
    assert np.nanmax(F.return_to_neutral(cells, K, mask, regions)[0]) < 1e-4
    contrast_px, moving_px, removed = F.head_motion(cells, rigid, K, mask)
    assert contrast_px[30] == pytest.approx(6.0, abs=1e-3)  # 3 px into frame 30, 3 px back out: |d| = 6
    assert removed[30] == pytest.approx(6.0, abs=1e-3)  # what the affine removal took away
    assert np.nanmax(moving_px) == pytest.approx(3.0, abs=1e-3)


def test_symmetry_of_mirrored_and_antisymmetric_fields():
    n = 20
    position = np.zeros((n, GRID, GRID, 2), dtype=np.float32)
    bump = _bump(n, 10, 3)
    position[:, 6, 2, 0], position[:, 6, 5, 0] = -bump, bump  # both mouth corners pulled outward: symmetric
    position[:, 6, 2, 1] = position[:, 6, 5, 1] = -bump  # and up
    mask, regions = np.ones((GRID, GRID), bool), template_regions(GRID)
    assert F.symmetry(_flows(position), K, mask)[10] == pytest.approx(1.0)
    assert F.region_directions(_flows(position), K, regions)[1][10, regions[6, 2]] > 0  # outward
    position[:, 6, 5, 1] = bump  # one corner up, the other down: a roll-like, antisymmetric vertical motion
    position[:, 6, 5, 0] = -bump
    position[:, 6, 2, 0] = -bump
    assert F.symmetry(_flows(position), K, mask)[10] == pytest.approx(-1.0)


def test_cell_regions_follow_the_landmarks():
    landmarks = _face_landmarks()
    regions = cell_regions(landmarks, 128, GRID)
    names = np.array(REGIONS)[regions]
    np.testing.assert_array_equal(regions == REGIONS.index("eyes"), ~eye_cell_mask(landmarks, 128, GRID))
    rows = {name: np.flatnonzero((names == name).any(axis=1)) for name in ("brows", "eyes", "nose", "mouth", "chin")}
    assert all(rows[name].size for name in rows), names
    assert rows["brows"].mean() < rows["eyes"].mean() < rows["nose"].mean() < rows["mouth"].mean() \
        < rows["chin"].mean()


def test_summary_keeps_the_flows_round_trips_and_refuses_an_older_version(tmp_path):
    rng = np.random.default_rng(0)
    n = 80
    cells = rng.normal(0, 0.1, (n, GRID, GRID, 2)).astype(np.float32)
    rigid = rng.normal(0, 0.1, (n, 3, 2)).astype(np.float32)
    cells[-K:], rigid[-K:] = np.nan, np.nan
    regions = template_regions(GRID)
    motion = VideoMotion(frame_numbers=np.arange(1, n + 1), cells={K: cells}, cell_mask=np.ones((GRID, GRID), bool),
                         rigid={K: rigid}, regions=regions)
    summary = summarise_motion(motion)
    np.testing.assert_allclose(summary.scores(K, 4), motion.scores(K, 4), rtol=1e-5, equal_nan=True)
    summary.to_npz(tmp_path / "v.npz")
    back = MotionSummary.from_npz(tmp_path / "v.npz")
    for name in ("cells", "rigid", "mags"):
        np.testing.assert_array_equal(getattr(back, name)[K], getattr(summary, name)[K])
    np.testing.assert_array_equal(back.regions, regions)
    np.testing.assert_array_equal(frame_features(back, (K,)), frame_features(summary, (K,)))
    with open(tmp_path / "old.npz", "wb") as f:  # what version 1 wrote: sorted magnitudes only, no version
        np.savez(f, frame_numbers=summary.frame_numbers, mags_6=summary.mags[K])
    with pytest.raises(StaleSummary, match="version 1"):
        MotionSummary.from_npz(tmp_path / "old.npz")


def test_rich_features_are_per_video_finite_and_absent_without_flows():
    rng = np.random.default_rng(1)
    n = 300
    cells = {k: rng.normal(0, 0.05, (n, GRID, GRID, 2)).astype(np.float32) for k in (6, 15)}
    rigid = {k: rng.normal(0, 0.2, (n, 3, 2)).astype(np.float32) for k in (6, 15)}
    motion = VideoMotion(np.arange(1, n + 1), cells, np.ones((GRID, GRID), bool), rigid=rigid)
    summary = summarise_motion(motion)
    rich, plain = frame_features(summary, (6, 15)), frame_features(summary, (6, 15), rich=False)
    assert rich.shape[0] == plain.shape[0] == n and rich.shape[1] > plain.shape[1] + 80
    assert np.isfinite(rich).all()
    np.testing.assert_array_equal(rich[:, : plain.shape[1]], plain)  # the old columns first, unchanged
    bare = MotionSummary(frame_numbers=summary.frame_numbers, mags=summary.mags)  # magnitudes only
    np.testing.assert_array_equal(frame_features(bare, (6, 15)), plain)
