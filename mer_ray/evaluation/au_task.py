"""The AU detection task (``--task au``): which action units are targets, each clip's multi-hot targets, and the
per-AU F1 scores, pooled over folds.

**Targets.** The sheets' FACS codes (the features' ``action_units`` column, read from the coding sheet's ``Action
Units`` column; sides and intensities dropped: ``mer_ray.data.action_units``). The AU vocabulary is a target
definition fixed before any fold, like the list of emotion classes: by default the :data:`DEFAULT_AUS` most
frequent AUs over every clip of the features (ties: the lower AU number), or the AUs a user names (``--aus``).
It is recorded in ``run.json``; a resumed run keeps it.

**Folds.** A fold's targets come from its TRAINING clips only (:func:`fold_targets`: the held-out subjects' codes
are blanked with their labels, ``FeatureSet.with_masked_labels``, and a visible one is refused). An AU coded on
fewer than ``min_positives`` training clips of a fold (or absent from fewer than that many) cannot be learnt
there: it is **skipped** for that fold: its predictions are :data:`SKIPPED` (-1, scores NaN), the fold's record
names it, and it leaves that AU's pooled F1 (it is not scored 0).

**Metrics** (:func:`au_scores`): per AU, over the rows of the folds that scored it (predictions concatenated),
``f1_macro`` = the mean of the F1 of "present" and of "absent" (sklearn ``f1_score(average="macro", labels=[0,
1], zero_division=0)``) and ``f1_binary`` = the F1 of "present" (``f1_score(zero_division=0)``); the run's figures
are the means over the AUs that were scored anywhere. Per-dataset figures slice the same predictions.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from mer_ray.data.action_units import parse_action_units

TASKS = ("emotion", "au")  # --task: the three-class emotion recognition (default) or AU detection
DEFAULT_AUS = 12  # the number of most frequent AUs that are the targets by default
DEFAULT_MIN_POSITIVES = 3  # an AU needs this many positive (and negative) training clips in a fold
SKIPPED = -1  # y_pred of an AU skipped in a fold: not scored
AU_COLUMN = "action_units"  # the features' column (the coding sheet's "Action Units")
SHEET_COLUMN = "Action Units"
OBJECTIVES = ("f1_macro", "f1_binary")  # what Optuna is told under --task au


class AuTaskError(ValueError):
    """Features or options that the AU task cannot run on (refused before any trial)."""


def au_name(au: int) -> str:
    return f"AU{au}"


@dataclass(frozen=True)
class AuTask:
    """The AU detection targets of a run: the AU vocabulary (ascending) and the skip rule.

    Attributes:
        aus: the target AUs (FACS numbers, ascending).
        min_positives: an AU with fewer positive (or negative) training clips in a fold is skipped there.
    """

    aus: tuple[int, ...]
    min_positives: int = DEFAULT_MIN_POSITIVES

    def __post_init__(self):
        object.__setattr__(self, "aus", tuple(int(a) for a in self.aus))
        if not self.aus:
            raise ValueError("an AU task needs at least one AU")
        if list(self.aus) != sorted(set(self.aus)):
            raise ValueError(f"aus must be distinct and ascending; got {list(self.aus)}")
        if self.min_positives < 1:
            raise ValueError(f"min_positives={self.min_positives}: expected an integer >= 1")

    @property
    def names(self) -> list[str]:
        return [au_name(a) for a in self.aus]

    def to_dict(self) -> dict:
        return {"aus": list(self.aus), "min_positives": self.min_positives}

    @classmethod
    def from_dict(cls, values: dict) -> AuTask:
        return cls(tuple(values["aus"]), int(values.get("min_positives", DEFAULT_MIN_POSITIVES)))


# ---- targets --------------------------------------------------------------------------------------------------


def au_matrix(codes: Sequence[object], aus: Sequence[int]) -> np.ndarray:
    """(N, K) int8 presence of the AUs ``aus`` in each sheet cell of ``codes``."""
    column = {au: k for k, au in enumerate(aus)}
    out = np.zeros((len(codes), len(aus)), dtype=np.int8)
    for i, cell in enumerate(codes):
        for au in parse_action_units(cell):
            if au in column:
                out[i, column[au]] = 1
    return out


def coded(codes: Sequence[object]) -> np.ndarray:
    """(N,) bool: which cells code any AU (an empty cell is not "no AU": it is not annotated)."""
    return np.array([bool(parse_action_units(c)) for c in codes], dtype=bool)


def parse_aus(text: str | None) -> tuple[int, ...] | None:
    """``--aus 1,2,4`` (also ``AU1,AU2``) -> ``(1, 2, 4)``; None stays None. Raises :class:`AuTaskError`."""
    if text is None:
        return None
    out = []
    for token in str(text).replace(" ", "").split(","):
        if not token:
            continue
        aus = parse_action_units(token)
        if len(aus) != 1:
            raise AuTaskError(f"--aus {text}: {token!r} is not an AU number (expected e.g. --aus 1,2,4,12)")
        out.extend(aus)
    if not out:
        raise AuTaskError(f"--aus {text!r}: expected a comma-separated list of AU numbers, e.g. --aus 1,2,4,12")
    return tuple(sorted(set(out)))


def check_au_codes(meta: pd.DataFrame) -> None:
    """Refuse features with a dataset whose clips carry no AU code at all (SMIC's sheets have none).

    Raises:
        AuTaskError: naming the dataset, the column and what is needed.
    """
    codes = meta[AU_COLUMN] if AU_COLUMN in meta else pd.Series([""] * len(meta), index=meta.index)
    has = pd.Series(coded(codes.tolist()), index=meta.index)
    missing = [(str(d), int(len(part))) for d, part in has.groupby(meta["dataset"], sort=True) if not part.any()]
    if not missing:
        return
    names = ", ".join(f"{d!r} ({n} clips)" for d, n in missing)
    others = sorted(set(meta["dataset"]) - {d for d, _ in missing})
    keep = (f"narrow the features to the datasets that have them (--subset {' --subset '.join(others)}), or "
            if others else "")
    raise AuTaskError(
        f"--task au: dataset {names} has no action-unit codes: the features' `{AU_COLUMN}` column (the coding "
        f"sheet's `{SHEET_COLUMN}` column, e.g. CASME II's '1+4', SAMM's 'AU12+AU25') is empty for every clip. "
        f"AU detection needs FACS codes per clip (CASME II, SAMM and MMEW sheets have them; SMIC's have none): "
        f"{keep}run --task emotion")


def vocabulary(meta: pd.DataFrame, aus: Sequence[int] | None = None, count: int = DEFAULT_AUS) -> tuple[int, ...]:
    """The target AUs: ``aus`` as given (each must be coded on some clip), else the ``count`` most frequent over
    every clip of ``meta`` (ties: the lower AU number); ascending.

    Raises:
        AuTaskError: an AU of ``aus`` no clip codes, or no AU coded at all.
    """
    counts = Counter(au for cell in meta[AU_COLUMN].tolist() for au in parse_action_units(cell))
    if aus is not None:
        absent = [a for a in aus if counts[a] == 0]
        if absent:
            frequent = ", ".join(f"{a} ({n})" for a, n in sorted(counts.items(), key=lambda x: (-x[1], x[0]))[:16])
            raise AuTaskError(f"--aus: AU {', '.join(map(str, absent))} is coded on no clip of the features; coded "
                              f"AUs (clips): {frequent}")
        return tuple(sorted(set(int(a) for a in aus)))
    if not counts:
        raise AuTaskError(f"--task au: no clip of the features codes any AU (column `{AU_COLUMN}`)")
    ranked = sorted(counts.items(), key=lambda x: (-x[1], x[0]))[:count]
    return tuple(sorted(a for a, _ in ranked))


@dataclass
class FoldTargets:
    """The AU targets of one fold's training clips (:func:`fold_targets`).

    Attributes:
        rows: the training rows that are coded (uncoded ones are left out of every AU fit).
        y: (len(rows), K) int8 presence.
        active: (K,) bool, the AUs fitted in this fold; the others are skipped.
        skipped: AU name -> why (``"2 positive training clips < 3"``).
    """

    rows: np.ndarray
    y: np.ndarray
    active: np.ndarray
    skipped: dict[str, str] = field(default_factory=dict)

    def record(self) -> dict:
        """The fold's record (``FoldResult.details["au"]``)."""
        return {"skipped": dict(self.skipped), "positives": self.y.sum(axis=0).astype(int).tolist(),
                "train_clips": len(self.rows)}


def fold_targets(task: AuTask, meta: pd.DataFrame, train_rows: np.ndarray, hidden_rows: np.ndarray) -> FoldTargets:
    """The AU targets of a fold's training rows; only those rows' codes are read.

    Raises:
        ValueError: a hidden (held-out or excluded) row still shows its AU codes (they must be masked with its
            labels: ``FeatureSet.with_masked_labels``).
    """
    codes = meta[AU_COLUMN].to_numpy() if AU_COLUMN in meta else np.array([""] * len(meta), dtype=object)
    if len(hidden_rows) and coded(codes[hidden_rows].tolist()).any():
        raise ValueError("the AU codes of held-out subject(s) must be masked before training "
                         "(pass data.with_masked_labels(subjects)): the trainer may not see them")
    train_codes = codes[train_rows].tolist()
    rows = np.asarray(train_rows)[coded(train_codes)]
    y = au_matrix(codes[rows].tolist(), task.aus)
    positives = y.sum(axis=0)
    negatives = len(rows) - positives
    active = (positives >= task.min_positives) & (negatives >= task.min_positives)
    skipped = {}
    for k, name in enumerate(task.names):
        if positives[k] < task.min_positives:
            skipped[name] = f"{int(positives[k])} positive training clips < {task.min_positives}"
        elif negatives[k] < task.min_positives:
            skipped[name] = f"{int(negatives[k])} negative training clips < {task.min_positives}"
    return FoldTargets(rows, y, active, skipped)


def decide(probabilities: np.ndarray, active: np.ndarray, threshold: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """``(y_pred (N, K) int64, scores (N, K) float32)`` of present-probabilities: 1 where > ``threshold``, 0 else;
    a skipped AU (not ``active``) gets :data:`SKIPPED` and NaN."""
    scores = np.asarray(probabilities, dtype=np.float32).copy()
    scores[:, ~active] = np.nan
    y_pred = (scores > threshold).astype(np.int64)
    y_pred[:, ~active] = SKIPPED
    return y_pred, scores


# ---- metrics --------------------------------------------------------------------------------------------------


def stacked(values: pd.Series | Sequence) -> np.ndarray:
    """(N, K) int64 array of a column of per-clip lists (a predictions frame's ``y_true`` / ``y_pred``)."""
    rows = list(values)
    if not rows:
        return np.zeros((0, 0), dtype=np.int64)
    return np.asarray([np.asarray(r) for r in rows], dtype=np.int64)


def counts(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """(K, 4) int64 ``[tp, fp, fn, tn]`` per AU over the rows that scored it (``y_pred != SKIPPED``)."""
    scored = y_pred != SKIPPED
    t, p = y_true == 1, y_pred == 1
    return np.stack([(t & p & scored).sum(0), (~t & p & scored).sum(0), (t & ~p & scored).sum(0),
                     (~t & ~p & scored).sum(0)], axis=1).astype(np.int64)


def f1_from_counts(c: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(f1_macro, f1_binary, scored)`` per AU of (..., K, 4) counts; 0/0 counts 0; ``scored``: any scored row."""
    tp, fp, fn, tn = (c[..., i].astype(float) for i in range(4))

    def f1(a, b, d):
        denom = 2 * a + b + d
        return np.divide(2 * a, denom, out=np.zeros_like(a), where=denom > 0)

    present, absent = f1(tp, fp, fn), f1(tn, fn, fp)
    return (present + absent) / 2, present, c.sum(axis=-1) > 0


def pooled(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """Mean macro / binary F1 over the AUs scored anywhere, and n (clips)."""
    macro, binary, scored = f1_from_counts(counts(y_true, y_pred))
    return {"f1_macro": float(macro[scored].mean()) if scored.any() else float("nan"),
            "f1_binary": float(binary[scored].mean()) if scored.any() else float("nan"), "n": int(len(y_true))}


def au_scores(predictions: pd.DataFrame, task: AuTask) -> dict[str, float]:
    """The pooled AU figures of one configuration's predictions (columns ``dataset``, ``y_true``, ``y_pred``: lists
    of K): ``f1_macro``, ``f1_binary``, ``n``; per AU ``f1_macro_AU1``, ``f1_binary_AU1``, ``positives_AU1``; per
    dataset ``f1_macro_<dataset>``, ``f1_binary_<dataset>``, ``n_<dataset>``. An AU scored in no fold has NaN."""
    y_true, y_pred = stacked(predictions["y_true"]), stacked(predictions["y_pred"])
    out: dict[str, float] = pooled(y_true, y_pred)
    macro, binary, scored = f1_from_counts(counts(y_true, y_pred))
    for k, name in enumerate(task.names):
        out[f"f1_macro_{name}"] = float(macro[k]) if scored[k] else float("nan")
        out[f"f1_binary_{name}"] = float(binary[k]) if scored[k] else float("nan")
        out[f"positives_{name}"] = int(y_true[:, k].sum())
    for dataset, part in predictions.groupby("dataset", sort=True):
        sliced = pooled(stacked(part["y_true"]), stacked(part["y_pred"]))
        for key in ("f1_macro", "f1_binary", "n"):
            out[f"{key}_{dataset}"] = sliced[key]
    return out


def per_au_table(predictions: pd.DataFrame, task: AuTask) -> pd.DataFrame:
    """One row per AU: positives (pooled held-out clips coding it), F1 macro, F1 binary, folds skipped (of all)."""
    y_true, y_pred = stacked(predictions["y_true"]), stacked(predictions["y_pred"])
    macro, binary, scored = f1_from_counts(counts(y_true, y_pred))
    folds = predictions["fold"].to_numpy()
    names = sorted(set(folds))
    rows = []
    for k, name in enumerate(task.names):
        skipped = sorted({f for f, p in zip(folds, y_pred[:, k]) if p == SKIPPED})
        rows.append({"AU": name, "positives": int(y_true[:, k].sum()),
                     "F1 macro": float(macro[k]) if scored[k] else float("nan"),
                     "F1 binary": float(binary[k]) if scored[k] else float("nan"),
                     "folds skipped": f"{len(skipped)}/{len(names)}"})
    return pd.DataFrame(rows)


def subject_counts(predictions: pd.DataFrame) -> tuple[list[str], np.ndarray]:
    """``(subjects, (S, K, 4) counts)``: each subject's per-AU counts (the unit a bootstrap resamples)."""
    subjects, per = [], []
    for subject, part in predictions.groupby("subject", sort=True):
        subjects.append(str(subject))
        per.append(counts(stacked(part["y_true"]), stacked(part["y_pred"])))
    return subjects, np.stack(per)


def _mean(c: np.ndarray, metric: str) -> float:
    macro, binary, scored = f1_from_counts(c)
    values = macro if metric == "f1_macro" else binary
    return float(values[scored].mean()) if scored.any() else float("nan")


def bootstrap_ci(predictions: pd.DataFrame, *, metric: str = "f1_macro", n_boot: int = 1000, alpha: float = 0.05,
                 seed: int = 0) -> tuple[float, float]:
    """Percentile interval of the mean ``metric`` over AUs, resampling whole subjects."""
    _check_metric(metric)
    _, c = subject_counts(predictions)
    rng = np.random.default_rng(seed)
    values = np.array([_mean(c[rng.integers(0, len(c), len(c))].sum(0), metric) for _ in range(n_boot)])
    return float(np.nanquantile(values, alpha / 2)), float(np.nanquantile(values, 1 - alpha / 2))


def paired_bootstrap(predictions: pd.DataFrame, reference: pd.DataFrame, *, metric: str = "f1_macro",
                     n_boot: int = 1000, alpha: float = 0.05, seed: int = 0) -> tuple[float, float, float]:
    """Mean ``metric`` of ``predictions`` minus ``reference``'s on the same clips, with a paired subject bootstrap
    (each replicate draws the same subjects for both). Returns ``(difference, low, high)``.

    Raises:
        ValueError: the two sets cover different clips, or disagree on a clip's subject or targets.
    """
    return repeated_paired_bootstrap([predictions], reference, metric=metric, n_boot=n_boot, alpha=alpha, seed=seed)


def repeated_paired_bootstrap(repeats: list[pd.DataFrame], reference: pd.DataFrame, *, metric: str = "f1_macro",
                              n_boot: int = 1000, alpha: float = 0.05, seed: int = 0) -> tuple[float, float, float]:
    """The MEAN over the repeats (``--repeats``) of each repeat's mean ``metric`` over the AUs, minus the
    reference's, on the same clips: ``(difference, low, high)``. Every replicate draws one set of subjects for all
    the repeats and the reference (:func:`mer_ray.evaluation.metrics.paired_subject_bootstrap`, the emotion path's
    loop). A fold's skipped AU leaves that AU's counts there, as in the single-run scores.

    Raises:
        ValueError: no repeat, an unknown metric, or a repeat that covers other clips than the reference or
            disagrees on a clip's subject or AU targets.
    """
    from mer_ray.evaluation.metrics import paired_frames, paired_subject_bootstrap

    _check_metric(metric)
    if not repeats:
        raise ValueError("repeated_paired_bootstrap needs at least one set of predictions")

    def same(x: pd.Series, y: pd.Series) -> bool:
        return np.array_equal(stacked(x), stacked(y))

    units = [subject_counts(paired_frames(p, reference, same_targets=same, targets="AU targets")[0]
                            .reset_index())[1] for p in repeats]
    return paired_subject_bootstrap(units, subject_counts(reference)[1], lambda c: _mean(c, metric),
                                    n_boot=n_boot, alpha=alpha, seed=seed)


def _check_metric(metric: str) -> None:
    if metric not in OBJECTIVES:
        raise ValueError(f"metric must be one of {list(OBJECTIVES)}; got {metric!r}")
