"""Pooled LOSO metrics: concatenate every fold's predictions, then score once (never average per-fold scores).

UAR = mean per-class recall, UF1 = mean per-class F1, both over labels [0, 1, 2] with 0/0 counted as 0
(sklearn's ``recall_score`` / ``f1_score`` with ``average="macro", labels=[0, 1, 2], zero_division=0``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from preprocessing.annotations.sample import LABELS

CLASSES: tuple[int, ...] = tuple(range(len(LABELS)))
CLASS_NAMES: tuple[str, ...] = LABELS  # label i is CLASS_NAMES[i]


def confusion(y_true: Sequence[int], y_pred: Sequence[int], labels: Sequence[int] = CLASSES) -> np.ndarray:
    """Confusion counts, rows = true class, columns = predicted class, over ``labels``."""
    index = {label: i for i, label in enumerate(labels)}
    matrix = np.zeros((len(labels), len(labels)), dtype=np.int64)
    for t, p in zip(np.asarray(y_true).tolist(), np.asarray(y_pred).tolist(), strict=True):
        if t not in index:
            raise ValueError(f"y_true holds label {t!r}; expected one of {list(labels)}")
        if p in index:  # a prediction outside the labels is a miss for its true class
            matrix[index[t], index[p]] += 1
    return matrix


def scores_from_confusion(matrix: np.ndarray) -> dict[str, float]:
    """UAR, UF1 and accuracy of a confusion matrix (rows true, columns predicted); 0/0 counts as 0."""
    tp = np.diag(matrix).astype(float)
    support = matrix.sum(axis=1).astype(float)
    predicted = matrix.sum(axis=0).astype(float)
    recall = np.divide(tp, support, out=np.zeros_like(tp), where=support > 0)
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(tp), where=denom > 0)
    n = matrix.sum()
    return {
        "uar": float(recall.mean()),
        "uf1": float(f1.mean()),
        "accuracy": float(tp.sum() / n) if n else 0.0,
        "n": int(n),
    }


def pooled_scores(y_true: Sequence[int], y_pred: Sequence[int], labels: Sequence[int] = CLASSES) -> dict[str, float]:
    """UAR / UF1 / accuracy / n of the concatenated predictions."""
    return scores_from_confusion(confusion(y_true, y_pred, labels))


def score_predictions(predictions: pd.DataFrame) -> dict[str, float]:
    """Composite scores plus per-dataset slices (``uar_<dataset>``, ``uf1_<dataset>``, ``accuracy_<dataset>``).

    Args:
        predictions: one row per held-out sample with columns ``dataset``, ``y_true``, ``y_pred`` (one
            configuration's pooled LOSO predictions).
    """
    missing = {"dataset", "y_true", "y_pred"} - set(predictions.columns)
    if missing:
        raise ValueError(f"predictions lack columns {sorted(missing)}; found {list(predictions.columns)}")
    result = pooled_scores(predictions["y_true"], predictions["y_pred"])
    for dataset, part in predictions.groupby("dataset", sort=True):
        sliced = pooled_scores(part["y_true"], part["y_pred"])
        for key in ("uar", "uf1", "accuracy", "n"):
            result[f"{key}_{dataset}"] = sliced[key]
    return result


def bootstrap_ci(
    predictions: pd.DataFrame,
    *,
    metric: str = "uar",
    n_boot: int = 1000,
    alpha: float = 0.05,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile interval of a pooled metric, resampling SUBJECTS with replacement (samples of one subject
    are not independent).

    Args:
        predictions: rows with ``subject``, ``y_true``, ``y_pred``.
        metric: ``"uar"``, ``"uf1"`` or ``"accuracy"``.
        n_boot: bootstrap replicates.
        alpha: 0.05 gives a 95% interval.
        seed: seed of the resampling.
    """
    if metric not in ("uar", "uf1", "accuracy"):
        raise ValueError(f"metric must be one of 'uar', 'uf1', 'accuracy'; got {metric!r}")
    rng = np.random.default_rng(seed)
    per_subject = [
        confusion(part["y_true"], part["y_pred"]) for _, part in predictions.groupby("subject", sort=True)
    ]
    if not per_subject:
        raise ValueError("no predictions to bootstrap")
    stacked = np.stack(per_subject)  # (S, 3, 3): a replicate's confusion is a sum of drawn subjects' confusions
    values = np.empty(n_boot)
    for b in range(n_boot):
        drawn = rng.integers(0, len(stacked), size=len(stacked))
        values[b] = scores_from_confusion(stacked[drawn].sum(axis=0))[metric]
    return float(np.quantile(values, alpha / 2)), float(np.quantile(values, 1 - alpha / 2))


def paired_bootstrap(
    predictions: pd.DataFrame,
    reference: pd.DataFrame,
    *,
    metric: str = "uar",
    n_boot: int = 1000,
    alpha: float = 0.05,
    seed: int = 0,
) -> tuple[float, float, float]:
    """Pooled ``metric`` of ``predictions`` minus that of ``reference`` on the same clips, with a paired interval.

    Each replicate draws SUBJECTS with replacement and scores both methods on the same drawn subjects, so the
    interval reflects the difference between the methods, not the spread of the subjects.

    Args:
        predictions, reference: rows with ``sample``, ``subject``, ``y_true``, ``y_pred``, covering the same clips.

    Returns:
        ``(difference, low, high)``: the observed difference and its percentile interval.

    Raises:
        ValueError: the two sets cover different clips, or disagree on a clip's subject or true label.
    """
    return repeated_paired_bootstrap([predictions], reference, metric=metric, n_boot=n_boot, alpha=alpha, seed=seed)


def repeated_paired_bootstrap(
    repeats: list[pd.DataFrame],
    reference: pd.DataFrame,
    *,
    metric: str = "uar",
    n_boot: int = 1000,
    alpha: float = 0.05,
    seed: int = 0,
) -> tuple[float, float, float]:
    """:func:`paired_bootstrap` of a method trained several times (``--repeats``): the MEAN over the repeats of
    each repeat's pooled ``metric``, minus the reference's. Every replicate draws one set of subjects for all the
    repeats and the reference, so the interval holds the subjects' spread once and the repeats' (seeds') spread
    through their mean. One repeat gives exactly :func:`paired_bootstrap`'s figures."""
    if metric not in ("uar", "uf1", "accuracy"):
        raise ValueError(f"metric must be one of 'uar', 'uf1', 'accuracy'; got {metric!r}")
    if not repeats:
        raise ValueError("repeated_paired_bootstrap needs at least one set of predictions")

    def per_subject(frame: pd.DataFrame) -> np.ndarray:
        return np.stack([confusion(p["y_true"], p["y_pred"]) for _, p in frame.groupby("subject", sort=True)])

    units = [per_subject(paired_frames(predictions, reference)[0]) for predictions in repeats]
    return paired_subject_bootstrap(units, per_subject(reference), lambda c: scores_from_confusion(c)[metric],
                                    n_boot=n_boot, alpha=alpha, seed=seed)


def paired_frames(
    predictions: pd.DataFrame,
    reference: pd.DataFrame,
    *,
    same_targets: Callable[[pd.Series, pd.Series], bool] | None = None,
    targets: str = "true labels",
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(a, b)``: the two prediction sets indexed by ``sample``, ``b`` in ``a``'s order, after checking that they
    cover the same clips once each with the same subjects and targets (``same_targets(a["y_true"], b["y_true"])``;
    by default element-wise equality; ``targets`` names them in the error).

    Raises:
        ValueError: the two sets cover different clips, or disagree on a clip's subject or targets.
    """
    a, b = predictions.set_index("sample"), reference.set_index("sample")
    if set(a.index) != set(b.index) or a.index.has_duplicates or b.index.has_duplicates:
        only_a, only_b = sorted(set(a.index) - set(b.index)), sorted(set(b.index) - set(a.index))
        raise ValueError(f"paired comparison needs the same clips once each: {len(only_a)} only in the first "
                         f"(e.g. {only_a[:3]}), {len(only_b)} only in the second (e.g. {only_b[:3]})")
    aligned = b.loc[a.index]
    same = same_targets or (lambda x, y: bool((x.to_numpy() == y.to_numpy()).all()))
    if not (a["subject"].to_numpy() == aligned["subject"].to_numpy()).all() or not same(a["y_true"],
                                                                                        aligned["y_true"]):
        raise ValueError(f"paired comparison: the two prediction sets disagree on clips' subjects or {targets}")
    return a, aligned


def paired_subject_bootstrap(
    repeats: Sequence[np.ndarray],
    reference: np.ndarray,
    score: Callable[[np.ndarray], float],
    *,
    n_boot: int = 1000,
    alpha: float = 0.05,
    seed: int = 0,
) -> tuple[float, float, float]:
    """The loop of every paired subject bootstrap (emotion: confusion matrices; ``--task au``: per-AU counts).

    Args:
        repeats: one array per repeat of a method, ``(S, ...)``: each subject's additive statistics, subjects in
            the same order in every array (and in ``reference``).
        reference: the reference method's ``(S, ...)`` statistics.
        score: the metric of statistics summed over (drawn) subjects.

    Returns:
        ``(difference, low, high)``: the mean over the repeats of ``score`` minus the reference's on all subjects,
        and the percentile interval of that difference when every replicate draws ONE set of subjects (with
        replacement) for all the repeats and the reference. Replicates whose score is NaN are left out.
    """
    subjects = len(reference)
    if any(len(r) != subjects for r in repeats):
        raise ValueError(f"paired bootstrap: every set needs the same {subjects} subjects; got "
                         f"{[len(r) for r in repeats]}")

    def mean_score(drawn: np.ndarray | slice) -> float:
        return float(np.mean([score(r[drawn].sum(0)) for r in repeats]))

    observed = mean_score(slice(None)) - score(reference.sum(0))
    rng = np.random.default_rng(seed)
    diffs = np.empty(n_boot)
    for i in range(n_boot):
        drawn = rng.integers(0, subjects, size=subjects)
        diffs[i] = mean_score(drawn) - score(reference[drawn].sum(0))
    return float(observed), float(np.nanquantile(diffs, alpha / 2)), float(np.nanquantile(diffs, 1 - alpha / 2))
