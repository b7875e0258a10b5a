"""Motion summaries: scores as the baseline computes them, npz round trip, unreadable videos as recorded skips."""

from __future__ import annotations

import numpy as np

from mer_ray.spotting.data import MotionSummary, VideoSkip, summarise, summarise_motion, truth_frames
from mer_ray.spotting.intervals import Interval
from mer_ray.spotting.scores import VideoMotion


def test_summary_scores_equal_the_baseline_scores(tmp_path):
    rng = np.random.default_rng(0)
    cells = rng.normal(0, 0.1, (80, 8, 8, 2)).astype(np.float32)
    cells[-6:] = np.nan
    motion = VideoMotion(frame_numbers=np.arange(1, 81), cells={6: cells}, cell_mask=np.ones((8, 8), bool))
    summary = summarise_motion(motion)
    np.testing.assert_allclose(summary.scores(6, 4), motion.scores(6, 4), rtol=1e-5, equal_nan=True)
    summary.to_npz(tmp_path / "v.npz")
    back = MotionSummary.from_npz(tmp_path / "v.npz")
    np.testing.assert_array_equal(back.mags[6], summary.mags[6])
    np.testing.assert_array_equal(back.frame_numbers, summary.frame_numbers)


def test_unreadable_and_short_videos_are_skips_with_reasons(tmp_path):
    broken = tmp_path / "broken"
    broken.mkdir()
    for i in range(1, 60):
        (broken / f"img{i}.jpg").write_bytes(b"not a jpeg")
    skip = summarise(broken, (6, 15), "s1/broken")
    assert isinstance(skip, VideoSkip) and skip.video == "s1/broken" and "unreadable" in skip.reason
    short = tmp_path / "short"
    short.mkdir()
    for i in range(1, 10):
        (short / f"img{i}.jpg").write_bytes(b"x")
    skip = summarise(short, (6, 15), "s1/short")
    assert isinstance(skip, VideoSkip) and "shorter than the scoring window" in skip.reason
    skip = summarise(tmp_path / "absent", (6, 15), "s1/absent")
    assert isinstance(skip, VideoSkip) and "unreadable video folder" in str(skip)


def test_truth_frames_labels_micro_and_macro():
    labels = truth_frames({"v": [Interval(3, 5, "micro"), Interval(8, 9, "macro")]}, "v", np.arange(1, 11))
    assert labels.tolist() == [0, 0, 1, 1, 1, 0, 0, 2, 2, 0]
