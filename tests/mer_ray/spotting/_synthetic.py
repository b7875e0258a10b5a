"""Synthetic motion summaries for the spotting tests: a per-frame contrast that peaks at each event."""

from __future__ import annotations

import numpy as np

from mer_ray.spotting.data import KEEP_CELLS, MotionSummary
from mer_ray.spotting.intervals import Interval


def summary(n: int, micro: list[int], macro: list[int], seed: int) -> MotionSummary:
    """Cell magnitudes with a 12-frame bump at each micro event and a 40-frame bump at each macro one."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    mags = {}
    for k in (6, 15):
        base = rng.gamma(4.0, 0.015, (n, KEEP_CELLS))
        bump = np.zeros(n)
        for e in micro:
            bump += 0.12 * np.clip(1 - np.abs(t - e) / 6, 0, None)
        for e in macro:
            bump += 0.3 * np.clip(1 - np.abs(t - e) / 20, 0, None)
        values = np.sort(base + bump[:, None] * np.linspace(1, 0.2, KEEP_CELLS), axis=1)[:, ::-1]
        values[:k] = np.nan
        values[n - k:] = np.nan
        mags[k] = values.astype(np.float32)
    return MotionSummary(frame_numbers=t + 1, mags=mags)


def dataset(n_subjects: int = 4, n: int = 450):
    """(summaries, truth, subject_of): one video per subject, two micro and one macro event each."""
    summaries, truth, subject_of = {}, {}, {}
    for s in range(n_subjects):
        key = f"s{s}/v"
        micro, macro = [60 + 10 * s, 250], [150 + 5 * s]
        summaries[key] = summary(n, micro, macro, s)
        truth[key] = [Interval(e - 3, e + 5, "micro") for e in micro] + [Interval(e - 18, e + 20, "macro")
                                                                         for e in macro]
        subject_of[key] = f"s{s}"
    return summaries, truth, subject_of
