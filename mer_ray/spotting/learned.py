"""The learned spotter: a per-frame classifier over windowed motion features, then peaks / runs -> intervals.

Per frame ``t`` of a video and each flow distance k (micro and macro), from the motion summary
(``data.MotionSummary``: sorted cell magnitudes of ``d_t = f_{t-k} - f_t``):

- the baseline score ``s_t`` (mean of the 4 largest cell magnitudes), normalised per VIDEO (robust z-score:
  median and MAD of the video's own scores, so footage with more noise or motion is on the same scale; no
  statistic of any other video is used), and its log ratio to the median;
- a window around t: the z-score at offsets ``0, +-k/2, +-k, +-2k`` and its moving average over ``k/2`` and ``k``;
- how much t stands out locally: ``z_t`` minus the window maximum over ``[t - k, t + k]`` (0 at a local peak),
  ``z_t`` minus the window mean over ``[t - 3k, t + 3k]``;
- how concentrated the motion is: the largest cell over the mean of the 16 largest (one region moving vs the
  whole face), normalised the same way; the video-level percentile of ``s_t``;
- (``LearnedConfig.extra``) the z-score against the surrounding seconds (running median / MAD over ``20k``
  frames: speech and head-motion stretches raise the local noise), its local maximum and mean; the largest cell
  and the mean of the 16 largest, each normalised; the window maximum over ``+-3k``; how much ``t`` rises over the
  frames ``2k`` before and falls to the frames ``2k`` after; the micro z-score minus the macro one.

Labels: a frame inside an annotated micro interval is class 1, inside a macro interval class 2, else 0, from the
TRAINING subjects' annotations only. A multinomial logistic regression (standardised features, balanced class
weights; ``model="hgb"`` swaps in gradient-boosted trees) gives per-frame probabilities ``P(micro)`` and
``P(macro)``.

Intervals (per kind, on the probability smoothed over ``smooth`` frames): ``"peak"`` mode, the baseline's step:
local maxima above ``threshold``, at least ``min_distance`` apart, each ``[peak - left, peak + right]``; ``"run"``
mode: every run of consecutive frames above ``threshold`` is an interval (micro runs longer than 0.53 s and
macro runs shorter than the shortest micro-expression are dropped); ``"extent"`` mode: peaks as in ``"peak"``,
each interval the frames around its peak where the score stays at or above ``fraction`` x the peak value (a micro
extent over 0.53 s falls back to the fixed window). A micro interval mostly inside a macro one is dropped (as in
the baseline).

Hyperparameters (threshold, smoothing, mode and fraction per kind) are chosen on the TRAINING subjects only, without
in-sample optimism: an inner leave-one-subject-out over the training subjects (at most ``inner_folds`` groups)
gives out-of-fold probabilities for every training frame; the settings with the best pooled F1 on those are
kept (macro first on macro F1, then micro on overall F1, the baseline's order; "no micro spots" is one of the
micro choices, taken when every micro rule lowers the training subjects' overall F1); the classifier is then refitted
on all training subjects and applied to the held-out one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

import numpy as np

from mer_ray.spotting.baseline import SpotterConfig, find_peaks, merge_spans, smooth
from mer_ray.spotting.data import MotionSummary, truth_frames
from mer_ray.spotting.intervals import Interval, evaluate_spotting

THRESHOLDS = (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8)
SMOOTHS = (1, 5, 9)
MODES = ("peak", "run", "extent")
FRACTIONS = (0.3, 0.5, 0.7)


def _shift(x: np.ndarray, offset: int) -> np.ndarray:
    """``x[t + offset]`` with edge values repeated."""
    n = x.size
    index = np.clip(np.arange(n) + offset, 0, n - 1)
    return x[index]


def _window_max(x: np.ndarray, half: int) -> np.ndarray:
    from scipy.ndimage import maximum_filter1d

    return maximum_filter1d(x, size=2 * half + 1, mode="nearest")


def _robust_z(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(robust z-score, log ratio to the median) of ``x`` (NaN -> the median: no evidence either way)."""
    finite = x[np.isfinite(x)]
    if finite.size == 0:
        return np.zeros_like(x), np.zeros_like(x)
    median = float(np.median(finite))
    mad = float(np.median(np.abs(finite - median))) * 1.4826
    scale = max(mad, 1e-6, 1e-3 * abs(median))
    filled = np.where(np.isfinite(x), x, median)
    return (filled - median) / scale, np.log((np.maximum(filled, 0) + 1e-6) / (max(median, 0) + 1e-6))


def _local_z(x: np.ndarray, width: int) -> np.ndarray:
    """``x`` minus its running median over ``width`` frames, over the running MAD (local noise level)."""
    from scipy.ndimage import median_filter

    med = median_filter(x, size=width, mode="nearest")
    mad = median_filter(np.abs(x - med), size=width, mode="nearest") * 1.4826
    return (x - med) / np.maximum(mad, 0.05)


def _log_ratio(x: np.ndarray, floor: float = 0.01) -> np.ndarray:
    """``log((x + floor) / (median + floor))`` over the video (NaN -> 0: the median, no evidence either way)."""
    finite = x[np.isfinite(x)]
    median = float(np.median(finite)) if finite.size else 0.0
    return np.nan_to_num(np.log((np.maximum(x, 0) + floor) / (max(median, 0) + floor)))


def _per_column(x: np.ndarray, fn) -> list[np.ndarray]:
    return [fn(x[:, j]) for j in range(x.shape[1])]


def rich_columns(summary: MotionSummary, k: int, width: int, top: int = 4) -> list[np.ndarray]:
    """The ``features.py`` features of one video at flow distance k, normalised per video: magnitudes as log
    ratios to the video's median (and the return-to-neutral and deformation tops also as robust z-scores, with
    their window maximum over +-k/2 and the values k before / after), signed directions over the video's median
    magnitude of their region, symmetry and the returning share as they are."""
    from mer_ray.spotting import features as F

    cells = summary.cells[k]
    grid = cells.shape[1]
    regions, mask = F.regions_of(summary, grid), F.scored_mask(summary, grid)
    half = max(k // 2, 1)
    columns: list[np.ndarray] = []
    mags = F.region_magnitudes(cells, k, regions)
    columns += _per_column(mags, _log_ratio)
    scale = np.nanmedian(np.where(np.isfinite(mags), mags, np.nan), axis=0) if np.isfinite(mags).any() else \
        np.zeros(mags.shape[1])
    for signed in F.region_directions(cells, k, regions):
        columns += [np.nan_to_num(signed[:, j] / (np.nan_to_num(scale[j]) + 0.01)) for j in range(signed.shape[1])]
    columns.append(np.nan_to_num(F.symmetry(cells, k, mask)))
    rtn_top, rtn_share, rtn_regions = F.return_to_neutral(cells, k, mask, regions, top)
    rtn_z = _robust_z(rtn_top)[0]
    columns += [_log_ratio(rtn_top), rtn_z, _window_max(rtn_z, half), _shift(rtn_z, -k), _shift(rtn_z, k),
                np.nan_to_num(rtn_share)]
    columns += _per_column(rtn_regions, _log_ratio)
    if k in summary.rigid:
        head_d, head_now, head_removed = F.head_motion(cells, summary.rigid[k], k, mask, top)
        columns += [_log_ratio(head_d), _log_ratio(head_now), np.nan_to_num(head_removed)]
    deform_top, deform_regions = F.deformation(cells, k, mask, regions, width, top)
    deform_z = _robust_z(deform_top)[0]
    columns += [_log_ratio(deform_top), deform_z, _window_max(deform_z, half), smooth(deform_z, k | 1)]
    columns += _per_column(deform_regions, _log_ratio)
    return columns


def frame_features(summary: MotionSummary, ks: Sequence[int], top: int = 4, extra: bool = True,
                   rich: bool = True) -> np.ndarray:
    """(n, features) per-frame features of one video (see the module docstring); uses this video only."""
    columns = []
    zs = []
    for k in ks:
        mags = summary.mags[k].astype(np.float64)
        s = mags[:, :top].mean(axis=1)
        z, log_ratio = _robust_z(s)
        zs.append(z)
        half = max(k // 2, 1)
        columns += [z, log_ratio]
        columns += [_shift(z, o) for o in (-2 * k, -k, -half, half, k, 2 * k)]
        columns += [smooth(z, half | 1), smooth(z, k | 1)]
        columns += [z - _window_max(z, k), z - smooth(z, 6 * k + 1)]
        finite = np.isfinite(s)
        filled = np.where(np.isfinite(mags), mags, 0.0)
        concentration = filled[:, 0] / (filled.mean(axis=1) + 1e-6)
        columns.append(_robust_z(np.where(finite, concentration, np.nan))[0])
        rank = np.zeros_like(s)
        if finite.any():
            order = np.argsort(np.argsort(np.where(finite, s, -np.inf)))
            rank = order / max(s.size - 1, 1)
        columns += [rank, finite.astype(np.float64)]
        if extra:
            local = _local_z(z, 20 * k + 1)  # against the surrounding seconds: speech / head-motion stretches
            columns += [local, _window_max(local, half), smooth(local, k | 1)]
            columns += [_robust_z(np.where(finite, filled[:, 0], np.nan))[0],  # largest cell, broadest spread
                        _robust_z(np.where(finite, filled.mean(axis=1), np.nan))[0]]
            columns += [_window_max(z, 3 * k), z - _window_max(_shift(z, -2 * k), k),
                        z - _window_max(_shift(z, 2 * k), k)]  # rise from before, fall after
    if extra and len(zs) == 2:
        columns.append(zs[0] - zs[1])  # fast vs slow contrast: short movements stand out at the micro k
    if rich and all(k in summary.cells for k in ks):
        width = 20 * max(ks) + 1  # the local neutral face: the running median over ~10 s (at 30 fps)
        for k in ks:
            columns += rich_columns(summary, k, width, top)
    return np.stack(columns, axis=1).astype(np.float32)


@dataclass(frozen=True)
class LearnedConfig:
    """The classifier's settings (fixed) and the interval step's frame counts (from the baseline's configs)."""

    model: str = "logreg"  # "logreg" (standardised features, L2 logistic regression) or "hgb" (boosted trees)
    c: float = 1.0  # logreg's inverse regularisation
    max_iter: int = 40  # hgb's boosting rounds
    learning_rate: float = 0.1
    max_leaf_nodes: int = 15
    l2_regularization: float = 1.0
    inner_folds: int = 5
    seed: int = 0
    top: int = 4
    extra: bool = True  # the local-noise, cell-spread, rise / fall and micro-vs-macro features
    rich: bool = True  # features.py: regions, directions, symmetry, return to neutral, head motion, deformation

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class IntervalRule:
    """Probability -> intervals for one kind."""

    kind: str
    threshold: float = 0.5
    smooth: int = 1
    mode: str = "peak"
    fraction: float = 0.5  # "extent" mode: the interval is where the score stays above fraction x its peak

    def to_dict(self) -> dict:
        return asdict(self)


def _classifier(config: LearnedConfig):
    from sklearn.ensemble import HistGradientBoostingClassifier

    if config.model == "logreg":
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        return make_pipeline(StandardScaler(), LogisticRegression(C=config.c, class_weight="balanced",
                                                                  max_iter=500))
    return HistGradientBoostingClassifier(max_iter=config.max_iter, learning_rate=config.learning_rate,
                                          max_leaf_nodes=config.max_leaf_nodes,
                                          l2_regularization=config.l2_regularization, early_stopping=False,
                                          class_weight="balanced", random_state=config.seed)


def video_features(summaries: Mapping[str, MotionSummary], keys: Sequence[str], ks: Sequence[int],
                   config: LearnedConfig) -> dict[str, np.ndarray]:
    """key -> its (n, features) matrix (each video's features use that video only: computed once per fold)."""
    return {key: frame_features(summaries[key], ks, config.top, config.extra, config.rich) for key in keys}


def fit_classifier(features: Mapping[str, np.ndarray], summaries, truth, keys, config: LearnedConfig):
    """The classifier fitted on ``keys`` (training videos) with their annotations."""
    x = np.concatenate([features[key] for key in keys])
    y = np.concatenate([truth_frames(truth, key, summaries[key].frame_numbers) for key in keys])
    model = _classifier(config)
    model.fit(x, y)
    return model


def predict_probabilities(model, features: Mapping[str, np.ndarray], keys) -> dict[str, np.ndarray]:
    """key -> (n, 3) probabilities of none / micro / macro per frame (a class absent in training: 0)."""
    out = {}
    for key in keys:
        proba = model.predict_proba(features[key])
        full = np.zeros((proba.shape[0], 3))
        for column, label in enumerate(model.classes_):
            full[:, int(label)] = proba[:, column]
        out[key] = full
    return out


def _extent(s: np.ndarray, peak: int, fraction: float) -> tuple[int, int]:
    """The frames around ``peak`` where ``s`` stays at or above ``fraction`` of its peak value."""
    floor = fraction * s[peak]
    below = np.flatnonzero(s[:peak] < floor)
    after = np.flatnonzero(s[peak + 1:] < floor)
    return (int(below[-1]) + 1 if below.size else 0), (peak + int(after[0]) if after.size else s.size - 1)


def intervals_from_probability(prob: np.ndarray, rule: IntervalRule, shape: SpotterConfig,
                               first_frame: int = 1) -> list[Interval]:
    """One kind's intervals from its per-frame probability (``shape``: the baseline's frame counts for the kind)."""
    s = smooth(prob, rule.smooth)
    n = s.size
    if rule.mode == "peak":
        peaks = find_peaks(s, rule.threshold, shape.min_distance)
        spans = sorted((max(p - shape.left, 0), min(p + shape.right, n - 1), float(s[p])) for p in peaks)
    elif rule.mode == "extent":
        spans = []
        for p in find_peaks(s, rule.threshold, shape.min_distance):
            a, b = _extent(s, p, rule.fraction)
            if rule.kind == "micro" and shape.max_length and b - a + 1 > shape.max_length:
                a, b = max(p - shape.left, 0), min(p + shape.right, n - 1)  # too long for a micro: the fixed window
            spans.append((a, b, float(s[p])))
        spans.sort()
    else:
        above = np.concatenate([[False], s >= rule.threshold, [False]])
        edges = np.flatnonzero(np.diff(above.astype(np.int8)))
        spans = [(a, b - 1, float(s[a:b].max())) for a, b in zip(edges[::2], edges[1::2])]
        if rule.kind == "micro":
            spans = [sp for sp in spans if not shape.max_length or sp[1] - sp[0] + 1 <= shape.max_length]
    merged = merge_spans(spans)
    out = []
    for a, b, value in merged:
        if rule.kind == "micro" and shape.max_length and b - a + 1 > shape.max_length:
            continue
        if rule.kind == "macro" and b - a + 1 < 2 * max(shape.left, 1) // 3:
            continue
        out.append(Interval(int(a) + first_frame, int(b) + first_frame, kind=rule.kind, score=value))
    return out


def spot_video(prob: np.ndarray, micro: IntervalRule, macro: IntervalRule, micro_shape: SpotterConfig,
               macro_shape: SpotterConfig, first_frame: int = 1) -> list[Interval]:
    """Both kinds for one video; a micro interval mostly inside a macro one is dropped."""
    macros = intervals_from_probability(prob[:, 2], macro, macro_shape, first_frame)
    micros = []
    for m in intervals_from_probability(prob[:, 1], micro, micro_shape, first_frame):
        inside = max((min(m.offset, M.offset) - max(m.onset, M.onset) + 1 for M in macros), default=0)
        if inside < 0.5 * m.length:
            micros.append(m)
    return sorted(micros + macros, key=lambda i: (i.onset, i.offset))


def _groups(subjects: Sequence[str], n: int) -> list[list[str]]:
    """``subjects`` dealt into at most ``n`` groups (leave-one-subject-out when there are at most ``n``)."""
    ordered = sorted(subjects)
    n = min(n, len(ordered))
    return [ordered[i::n] for i in range(n)]


def choose_rules(probs: Mapping[str, np.ndarray], summaries, truth, keys, micro_shape: SpotterConfig,
                 macro_shape: SpotterConfig, allow_none: bool = True) -> tuple[IntervalRule, IntervalRule, float]:
    """The rules with the best pooled F1 on ``keys`` (their out-of-fold probabilities): macro, then micro."""
    sub_truth = {k: truth[k] for k in keys}
    first = {k: int(summaries[k].frame_numbers[0]) for k in keys}
    never = IntervalRule("micro", threshold=2.0)  # above any probability: no micro spots

    def f1(micro, macro, which):
        spotted = {k: spot_video(probs[k], micro, macro, micro_shape, macro_shape, first[k]) for k in keys}
        result = evaluate_spotting(spotted, sub_truth)
        return getattr(result, which).f1

    grid = [(t, w, m, f) for m in MODES for t in THRESHOLDS for w in SMOOTHS
            for f in (FRACTIONS if m == "extent" else (0.5,))]
    best_macro, best = IntervalRule("macro"), -1.0
    for t, w, m, f in grid:
        rule = IntervalRule("macro", t, w, m, f)
        value = f1(never, rule, "macro")
        if value > best:
            best_macro, best = rule, value
    best_micro, best = IntervalRule("micro"), -1.0
    for rule in [IntervalRule("micro", t, w, m, f) for t, w, m, f in grid] + ([never] if allow_none else []):
        value = f1(rule, best_macro, "overall")
        if value > best:
            best_micro, best = rule, value
    return best_micro, best_macro, best


@dataclass
class LearnedFold:
    micro: IntervalRule
    macro: IntervalRule
    inner_f1: float
    probabilities: dict[str, np.ndarray]  # held-out key -> (n, 3)
    intervals: dict[str, list[Interval]]


def learned_fold(summaries: Mapping[str, MotionSummary], truth: Mapping[str, list[Interval]],
                 subject_of: Mapping[str, str], held_out: str, fps: float,
                 config: LearnedConfig | None = None) -> LearnedFold:
    """Train on every subject but ``held_out`` (annotations of ``held_out`` are never read), spot ``held_out``."""
    from mer_ray.spotting.data import ks_for

    config = config or LearnedConfig()
    ks = ks_for(fps)
    micro_shape, macro_shape = SpotterConfig.micro_for(fps, k=ks[0]), SpotterConfig.macro_for(fps, k=ks[1])
    train = sorted(k for k in summaries if subject_of[k] != held_out)
    test = sorted(k for k in summaries if subject_of[k] == held_out)
    train_truth = {k: truth.get(k, []) for k in train}  # the only annotations this fold reads
    subjects = sorted({subject_of[k] for k in train})
    oof: dict[str, np.ndarray] = {}
    groups = _groups(subjects, config.inner_folds) if len(subjects) > 1 else []
    features = video_features(summaries, train + test, ks, config)
    for group in groups:
        inner_test = [k for k in train if subject_of[k] in group]
        inner_train = [k for k in train if subject_of[k] not in group]
        model = fit_classifier(features, summaries, train_truth, inner_train, config)
        oof.update(predict_probabilities(model, features, inner_test))
    if oof:
        micro, macro, inner_f1 = choose_rules(oof, summaries, train_truth, train, micro_shape, macro_shape)
    else:  # one training subject: no inner split; fixed middle settings
        micro, macro, inner_f1 = IntervalRule("micro"), IntervalRule("macro"), float("nan")
    model = fit_classifier(features, summaries, train_truth, train, config)
    probs = predict_probabilities(model, features, test)
    spotted = {k: spot_video(probs[k], micro, macro, micro_shape, macro_shape, int(summaries[k].frame_numbers[0]))
               for k in test}
    return LearnedFold(micro, macro, inner_f1, probs, spotted)
