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


def flow_summary(n: int, micro: list[int], macro: list[int], seed: int) -> MotionSummary:
    """A summary with the cell flows, affine parts and regions the learned spotter's richer features read: noisy
    cell positions, a brow push that rises and falls within 8 frames at each micro event, a mouth movement held
    for 40 frames at each macro one, a small random head motion (the flows are ``f_t = x(t + k) - x(t)``)."""
    from mer_ray.spotting.data import summarise_motion
    from mer_ray.spotting.scores import VideoMotion, template_regions

    rng = np.random.default_rng(seed)
    t = np.arange(n)
    position = rng.normal(0, 0.03, (n, 8, 8, 2))
    for e in micro:
        position[:, 2, 2:6, 1] -= 0.8 * np.clip(1 - np.abs(t - e) / 4, 0, None)[:, None]
    for e in macro:
        held = np.clip(1 - (np.abs(t - e) - 14) / 6, 0, 1)
        position[:, 5:7, 2, 0] -= 1.5 * held[:, None]
        position[:, 5:7, 5, 0] += 1.5 * held[:, None]
    head = np.cumsum(rng.normal(0, 0.05, (n, 3, 2)), axis=0)
    cells, rigid = {}, {}
    for k in (6, 15):
        f = np.full((n, 8, 8, 2), np.nan, dtype=np.float32)
        f[: n - k] = position[k:] - position[: n - k]
        r = np.full((n, 3, 2), np.nan, dtype=np.float32)
        r[: n - k] = head[k:] - head[: n - k]
        cells[k], rigid[k] = f, r
    mask = np.ones((8, 8), bool)
    mask[3, 2:6] = False  # the eye row
    motion = VideoMotion(frame_numbers=t + 1, cells=cells, cell_mask=mask, rigid=rigid, regions=template_regions(8))
    return summarise_motion(motion)


def flow_dataset(n_subjects: int = 4, n: int = 450):
    """``dataset`` with :func:`flow_summary` summaries (the same events and truth)."""
    summaries, truth, subject_of = dataset(n_subjects, n)
    for s, key in enumerate(sorted(summaries)):
        micro = [g.onset + 3 for g in truth[key] if g.kind == "micro"]
        macro = [g.onset + 18 for g in truth[key] if g.kind == "macro"]
        summaries[key] = flow_summary(n, micro, macro, s)
    return summaries, truth, subject_of
