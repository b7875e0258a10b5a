"""The MEGC baseline spotter on per-frame scores: smooth, threshold relative to the video, peaks -> intervals.

The MEGC spotting baselines (MDMD, Wang et al. 2017 / MEGC2020-2022; the LBP feature-difference baseline of Li
et al. 2018) share one recipe, followed here on a per-frame motion score (``scores.py``: the face's optical-flow
magnitude between frames ``k`` apart):

1. smooth the score with a moving average of ``smooth`` frames;
2. threshold RELATIVE to the video's own statistics: ``T = mean + p * (max - mean)`` (the baselines' ``Cmean +
   epsilon * (Cmax - Cmean)``, ``p`` in [0, 1]), with the first and last ``k`` frames left out of the mean and max
   (their flow pairs are incomplete); ``p`` is the main hyperparameter, chosen on training subjects only;
3. peaks: local maxima above ``T`` at least ``min_distance`` frames apart (the higher peak wins);
4. each peak becomes an interval ``[peak - left, peak + right]`` of the expected expression length: for a micro
   spotter the published baselines extend a peak by about half a micro-expression (``k``-ish frames) each side
   (CAS(ME)^2: ~6 + 6 frames at 30 fps; SAMM-LV: ~20-35 each side at 200 fps); overlapping intervals merge, and
   merged runs longer than ``max_length`` are dropped (the baselines drop runs longer than a micro-expression:
   34 frames on CAS(ME)^2 and 202 on SAMM-LV in the MDMD scripts).

A micro and a macro spotter run with their own settings (``SpotterConfig.micro`` / ``.macro`` for a frame rate);
``spot_both`` returns both kinds, where a micro interval inside a macro one is dropped (the macro motion explains
it).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import numpy as np

from mer_ray.spotting.intervals import Interval


@dataclass(frozen=True)
class SpotterConfig:
    """One spotter (micro or macro). Frame counts are at the video's frame rate."""

    kind: str = "micro"
    k: int = 6  # flow pair distance the scores were computed with (frames left out at each end)
    p: float = 0.3  # threshold T = mean + p * (max - mean)
    smooth: int = 3  # moving-average width (1 = none)
    left: int = 4  # interval start = peak - left
    right: int = 4  # interval end = peak + right
    min_distance: int = 10  # peaks closer than this: only the higher one
    max_length: int = 0  # merged runs longer than this are dropped (0 = keep all)
    min_score: float = 0.0  # absolute floor: no peak below this score (0 = relative threshold only)

    def __post_init__(self) -> None:
        if self.kind not in ("micro", "macro"):
            raise ValueError(f"SpotterConfig.kind={self.kind!r}: expected 'micro' or 'macro'")
        if not 0 <= self.p <= 1:
            raise ValueError(f"SpotterConfig.p={self.p}: expected a fraction in [0, 1]")
        if self.smooth < 1 or self.k < 1 or self.left < 0 or self.right < 0 or self.min_distance < 1:
            raise ValueError(f"SpotterConfig: k, smooth, min_distance >= 1 and left, right >= 0 expected, got {self}")

    @classmethod
    def micro_for(cls, fps: float, **overrides) -> SpotterConfig:
        """A micro spotter scaled to ``fps``: k ~ 0.2 s, interval ~ 0.3 s around the peak, runs over 0.53 s dropped."""
        half, reach = max(int(round(0.2 * fps)), 1), max(int(round(0.14 * fps)), 1)
        values = dict(kind="micro", k=half, smooth=max(int(round(0.1 * fps)) | 1, 1), left=reach, right=reach,
                      min_distance=max(int(round(0.33 * fps)), 1), max_length=int(round(0.53 * fps)))
        return cls(**{**values, **overrides})

    @classmethod
    def macro_for(cls, fps: float, **overrides) -> SpotterConfig:
        """A macro spotter scaled to ``fps``: k ~ 0.5 s, interval ~ 1.3 s, runs up to 4 s kept."""
        values = dict(kind="macro", k=max(int(round(0.5 * fps)), 1), smooth=max(int(round(0.2 * fps)) | 1, 1),
                      left=int(round(0.6 * fps)), right=int(round(0.7 * fps)),
                      min_distance=max(int(round(1.0 * fps)), 1), max_length=int(round(4.0 * fps)))
        return cls(**{**values, **overrides})

    def with_(self, **changes) -> SpotterConfig:
        return replace(self, **changes)

    def to_dict(self) -> dict:
        return asdict(self)


def smooth(scores: np.ndarray, width: int) -> np.ndarray:
    """Centred moving average (edges averaged over the frames available)."""
    scores = np.asarray(scores, dtype=np.float64)
    if width <= 1 or scores.size == 0:
        return scores.copy()
    kernel = np.ones(width)
    total = np.convolve(scores, kernel, mode="same")
    count = np.convolve(np.ones_like(scores), kernel, mode="same")
    return total / count


def relative_threshold(scores: np.ndarray, p: float, margin: int = 0) -> float:
    """``mean + p * (max - mean)`` over the scores, ``margin`` frames left out at each end (when enough remain)."""
    scores = np.asarray(scores, dtype=np.float64)
    inner = scores[margin:scores.size - margin] if scores.size > 2 * margin + 1 else scores
    inner = inner[np.isfinite(inner)]
    if inner.size == 0:
        return float("inf")
    mean, top = float(inner.mean()), float(inner.max())
    return mean + p * (top - mean)


def find_peaks(scores: np.ndarray, threshold: float, min_distance: int) -> list[int]:
    """Indices of local maxima ``>= threshold``, greedily by height, at least ``min_distance`` apart."""
    s = np.asarray(scores, dtype=np.float64)
    if s.size == 0:
        return []
    padded = np.concatenate([[-np.inf], s, [-np.inf]])
    local = (padded[1:-1] >= padded[:-2]) & (padded[1:-1] > padded[2:]) & (s >= threshold) & np.isfinite(s)
    candidates = sorted(np.flatnonzero(local), key=lambda i: (-s[i], i))
    chosen: list[int] = []
    for i in candidates:
        if all(abs(i - j) >= min_distance for j in chosen):
            chosen.append(int(i))
    return sorted(chosen)



def merge_spans(spans: list[tuple[int, int, float]]) -> list[list]:
    """Sorted ``(start, end, score)`` spans with the overlapping ones merged: ``[start, end, highest score]``."""
    merged: list[list] = []
    for a, b, value in spans:
        if merged and a <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], b)
            merged[-1][2] = max(merged[-1][2], value)
        else:
            merged.append([a, b, value])
    return merged

def spot(scores: np.ndarray, config: SpotterConfig, first_frame: int = 1) -> list[Interval]:
    """Intervals of one kind from a video's per-frame scores.

    Args:
        scores: (n,) score per frame (NaN where undefined, e.g. no flow pair).
        config: the spotter's settings.
        first_frame: the frame number of ``scores[0]`` (CAS(ME)^2's ``img1.jpg`` is frame 1).

    Returns:
        Intervals in frame numbers, sorted, each with the peak's smoothed score.
    """
    raw = np.asarray(scores, dtype=np.float64)
    n = raw.size
    if n == 0:
        return []
    filled = np.where(np.isfinite(raw), raw, np.nanmin(raw) if np.isfinite(raw).any() else 0.0)
    s = smooth(filled, config.smooth)
    s[~np.isfinite(raw)] = -np.inf
    finite = s[np.isfinite(s)]
    if finite.size == 0 or float(finite.max() - finite.min()) <= 1e-9 * max(1.0, float(np.abs(finite).max())):
        return []  # a constant score: nothing stands out
    threshold = max(relative_threshold(np.where(np.isfinite(s), s, np.nan), config.p, config.k), config.min_score)
    peaks = find_peaks(s, threshold, config.min_distance)
    spans = sorted((max(p - config.left, 0), min(p + config.right, n - 1), float(s[p])) for p in peaks)
    merged = merge_spans(spans)
    out = []
    for a, b, value in merged:
        if config.max_length and b - a + 1 > config.max_length:
            continue
        out.append(Interval(a + first_frame, b + first_frame, kind=config.kind, score=value))
    return out


def spot_both(micro_scores: np.ndarray, macro_scores: np.ndarray, micro: SpotterConfig, macro: SpotterConfig,
              first_frame: int = 1) -> list[Interval]:
    """Micro and macro intervals of one video; a micro interval mostly inside a macro one is dropped."""
    macros = spot(macro_scores, macro, first_frame)
    micros = []
    for m in spot(micro_scores, micro, first_frame):
        inside = max((min(m.offset, M.offset) - max(m.onset, M.onset) + 1 for M in macros), default=0)
        if inside < 0.5 * m.length:
            micros.append(m)
    return sorted(micros + macros, key=lambda i: (i.onset, i.offset))
