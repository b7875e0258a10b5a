"""Flow-method comparison and the leave-one-subject-out threshold loop, on small synthetic inputs."""

from __future__ import annotations

import numpy as np
import pytest

from mer_ray.spotting.baseline import SpotterConfig
from mer_ray.spotting.evaluate import choose, loso
from mer_ray.spotting.intervals import Interval
from mer_ray.spotting.scores import ScoreConfig, VideoMotion, compare_flow_methods, remove_affine, residual_cells


def _textured(seed: int, size: int = 64) -> np.ndarray:
    import cv2

    noise = np.random.default_rng(seed).normal(128, 40, (size, size)).astype(np.float32)
    return np.clip(cv2.GaussianBlur(noise, (0, 0), 1.5), 0, 255).astype(np.uint8)


def test_compare_flow_methods_reports_time_and_agreement():
    a = _textured(0)
    b = np.roll(a, 1, axis=1)  # a 1-px shift: the same flow for every method
    result = compare_flow_methods([(a, b), (b, a)], methods=("dis", "farneback"), grid=4)
    assert set(result) == {"tvl1", "dis", "farneback"}
    for name in ("dis", "farneback"):
        assert result[name]["ms_per_pair"] > 0 and result[name]["epe_px"] < 0.5
    with pytest.raises(ValueError, match="method"):
        ScoreConfig(method="nope")


def test_rigid_motion_leaves_no_residual():
    ys, xs = np.mgrid[0:64, 0:64].astype(np.float32)
    flow = np.stack([0.5 + 0.01 * xs - 0.02 * ys, -0.3 + 0.02 * xs + 0.01 * ys], axis=-1)  # translation + roll
    from mer_ray.spotting.scores import affine_basis

    design, pinv = affine_basis(64)
    assert np.abs(remove_affine(flow, design, pinv)).max() < 1e-4
    assert np.abs(residual_cells(flow, pinv, 4)).max() < 1e-4


def _motion(n: int, events: list[int], height: float, seed: int) -> VideoMotion:
    """Cell flows whose k=6 score peaks at each event frame (a local push rising and falling over 12 frames)."""
    rng = np.random.default_rng(seed)
    cells = rng.normal(0, 0.01, (n, 4, 4, 2)).astype(np.float32)
    profile = np.zeros(n)
    for e in events:
        t = np.arange(n)
        profile += np.clip(1 - np.abs(t - e) / 6, 0, None)
    intensity = profile * height
    forward = np.full(n, np.nan)
    forward[: n - 6] = intensity[6:] - intensity[: n - 6]  # f_t = motion from t to t + 6
    cells[:, 1, 1, 0] += np.nan_to_num(forward).astype(np.float32)
    cells[n - 6:] = np.nan
    return VideoMotion(frame_numbers=np.arange(1, n + 1), cells={6: cells, 15: cells}, cell_mask=np.ones((4, 4), bool))


def test_loso_chooses_thresholds_without_the_held_out_subject():
    motions, truth, subject_of = {}, {}, {}
    for s in range(3):
        key = f"s{s}/v"
        events = [60 + 40 * s, 200]
        motions[key] = _motion(300, events, 1.0, s)
        truth[key] = [Interval(e - 4, e + 4, "micro") for e in events]
        subject_of[key] = f"s{s}"
    micro = SpotterConfig.micro_for(30, k=6)
    macro = SpotterConfig.macro_for(30, k=15, p=1.0, min_score=float("inf"))
    result, folds = loso(motions, truth, subject_of, micro, macro, top=1)
    assert [f.subject for f in folds] == ["s0", "s1", "s2"]
    assert result.micro.tp == 6 and result.micro.fp == 0
    train = [k for k in motions if subject_of[k] != "s0"]
    mi, ma, _ = choose(motions, truth, train, micro, macro, 1)
    assert (mi.p, mi.smooth) == (folds[0].micro.p, folds[0].micro.smooth)
