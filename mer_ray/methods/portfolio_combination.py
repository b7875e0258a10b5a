"""Combining a portfolio's members' class probabilities (:mod:`mer_ray.methods.portfolio`): scores to probabilities,
temperature calibration, the class-balanced log-loss, and the combination fitted on out-of-fold probabilities
(simplex-grid weights, the best single member, or a stacked logistic regression), and the fallback to one member
unless the combination is ahead of it on the training subjects."""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mer_ray.methods.portfolio_config import PortfolioConfig

TEMPERATURES = (0.25, 0.35, 0.5, 0.7, 1.0, 1.4, 2.0, 2.8, 4.0, 5.6, 8.0, 11.0, 16.0)  # calibration grid
EPS = 1e-6  # probability floor before logs
REPLICATES = 200  # subject bootstrap replicates of the fallback's test


# ---- scores -> probabilities ------------------------------------------------------------------------------------


def probabilities(scores: np.ndarray) -> np.ndarray:
    """(N, C) float64 probabilities of a member's scores: kept where every row already is a probability vector
    (softmax outputs), else the softmax of the scores (decision values, margins)."""
    s = np.asarray(scores, dtype=np.float64)
    if len(s) and np.all(s >= 0) and np.allclose(s.sum(axis=1), 1.0, atol=1e-4):
        p = s
    else:
        z = s - s.max(axis=1, keepdims=True)
        p = np.exp(z)
    p = np.clip(p, EPS, None)
    return p / p.sum(axis=1, keepdims=True)


def temper(p: np.ndarray, temperature: float) -> np.ndarray:
    """Probabilities ``p`` recalibrated by a temperature (softmax of log p / T)."""
    z = np.log(np.clip(p, EPS, None)) / temperature
    z -= z.max(axis=1, keepdims=True)
    q = np.exp(z)
    return q / q.sum(axis=1, keepdims=True)


def balanced_log_loss(p: np.ndarray, y: np.ndarray) -> float:
    """Mean over the classes present of each class's mean negative log-probability of its true label (the log-loss
    of a class-balanced sample: the combination is judged the way UAR weighs the classes)."""
    nll = -np.log(np.clip(p[np.arange(len(y)), y], EPS, None))
    return float(np.mean([nll[y == c].mean() for c in np.unique(y)]))


def _uar(p: np.ndarray, y: np.ndarray) -> float:
    pred = p.argmax(axis=1)
    return float(np.mean([np.mean(pred[y == c] == c) for c in np.unique(y)]))


def simplex_grid(members: int, step: float) -> np.ndarray:
    """(P, members) every weight vector with entries multiple of ``step`` summing to 1 (vertices first)."""
    n = round(1.0 / step)
    points = [c for c in itertools.product(range(n + 1), repeat=members) if sum(c) == n]
    points.sort(key=lambda c: (-max(c), [-v for v in c]))  # deterministic: pure members first, then mixtures
    return np.asarray(points, dtype=np.float64) / n


# ---- the combination --------------------------------------------------------------------------------------------


@dataclass
class Combination:
    """A fitted combination of member probabilities (:func:`fit_combination`)."""

    combiner: str
    members: tuple[str, ...]
    weights: np.ndarray  # (M,) the members' weights ("stack": the norm share of each member's coefficients)
    temperatures: np.ndarray  # (M,)
    inner: dict[str, Any] = field(default_factory=dict)  # OOF figures: each member's and the combination's
    stacker: Any = None  # "stack": the fitted logistic regression

    def __call__(self, probs: Sequence[np.ndarray]) -> np.ndarray:
        """(N, C) combined probabilities of the members' (N, C) probabilities (in ``members`` order)."""
        calibrated = [temper(p, t) for p, t in zip(probs, self.temperatures)]
        if self.combiner == "stack":
            x = np.concatenate([np.log(np.clip(p, EPS, None)) for p in calibrated], axis=1)
            out = np.zeros((len(x), calibrated[0].shape[1]))
            out[:, self.stacker.classes_] = self.stacker.predict_proba(x)
            return out
        return sum(w * p for w, p in zip(self.weights, calibrated))

    def record(self) -> dict[str, Any]:
        return {"combiner": self.combiner, "members": list(self.members),
                "weights": {m: float(w) for m, w in zip(self.members, self.weights)},
                "temperatures": {m: float(t) for m, t in zip(self.members, self.temperatures)},
                "inner": self.inner}


def fit_combination(config: PortfolioConfig, probs: Sequence[np.ndarray], y: np.ndarray,
                    groups: np.ndarray) -> Combination:
    """Fit the combination of the members' out-of-fold probabilities ``probs`` (each (N, C)) to the TRAINING labels
    ``y`` (N,); ``groups``: each row's subject (the stacker's grouped choice of C)."""
    members = tuple(config.members)
    m = len(members)
    temperatures = np.ones(m)
    if config.calibrate and config.combiner != "stack":
        temperatures = np.array([min(TEMPERATURES, key=lambda t: (balanced_log_loss(temper(p, t), y), abs(t - 1)))
                                 for p in probs])
    calibrated = [temper(p, t) for p, t in zip(probs, temperatures)]
    inner = {"members": {name: {"log_loss": balanced_log_loss(p, y), "uar": _uar(p, y)}
                         for name, p in zip(members, calibrated)}}
    if config.combiner == "stack":
        return _fallback(config, _fit_stack(config, calibrated, y, groups, temperatures, inner), probs, y, groups)
    grid = np.eye(m) if config.combiner == "select" else simplex_grid(m, config.weight_step)
    stacked = np.stack(calibrated)  # (M, N, C)
    best, best_key = None, None
    for w in grid:
        p = np.tensordot(w, stacked, axes=1)
        loss = balanced_log_loss(p, y)
        key = (loss,) if config.objective == "log_loss" else (-_uar(p, y), loss)
        if best_key is None or key < tuple(k - 1e-12 for k in best_key):  # strictly better: the first point wins ties
            best, best_key = w, key
    p = np.tensordot(best, stacked, axes=1)
    inner["combination"] = {"log_loss": balanced_log_loss(p, y), "uar": _uar(p, y)}
    return _fallback(config, Combination(config.combiner, members, best.copy(), temperatures, inner), probs, y,
                     groups)


def share_ahead(p: np.ndarray, reference: np.ndarray, y: np.ndarray, groups: np.ndarray,
                replicates: int = REPLICATES) -> float:
    """The share of bootstrap replicates over subjects (``groups``) in which the UAR of probabilities ``p`` is
    strictly above that of ``reference`` on the same drawn clips (seeded: a function of its inputs only)."""
    rng = np.random.default_rng(0)
    subjects = np.unique(groups)
    rows = [np.flatnonzero(groups == s) for s in subjects]
    ahead = 0
    for _ in range(replicates):
        idx = np.concatenate([rows[i] for i in rng.integers(0, len(subjects), len(subjects))])
        ahead += _uar(p[idx], y[idx]) > _uar(reference[idx], y[idx])
    return ahead / replicates


def _fallback(config: PortfolioConfig, comb: Combination, probs: Sequence[np.ndarray], y: np.ndarray,
              groups: np.ndarray) -> Combination:
    """``comb``, or the ``config.fallback`` member alone where ``comb`` is not ahead of it on the out-of-fold
    probabilities ``probs`` in at least ``config.fallback_confidence`` of the subject bootstrap replicates."""
    if not config.fallback:
        return comb
    i = comb.members.index(config.fallback)
    share = share_ahead(comb(probs), np.asarray(probs[i]), y, groups)
    used = share < config.fallback_confidence
    comb.inner["fallback"] = {"member": config.fallback, "share_ahead": share,
                              "confidence": config.fallback_confidence, "used": bool(used)}
    if not used:
        return comb
    return Combination("weights", comb.members, np.eye(len(comb.members))[i], comb.temperatures, comb.inner)


def _fit_stack(config: PortfolioConfig, calibrated: list[np.ndarray], y: np.ndarray, groups: np.ndarray,
               temperatures: np.ndarray, inner: dict) -> Combination:
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import log_loss, make_scorer
    from sklearn.model_selection import GridSearchCV, GroupKFold

    x = np.concatenate([np.log(np.clip(p, EPS, None)) for p in calibrated], axis=1)
    model = LogisticRegression(class_weight="balanced", max_iter=2000)
    k = min(config.inner_folds, len(np.unique(groups)))
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="y_pred contains classes not in y_true")
        # the classes named: a validation group may lack one (it is scored on the classes of all the training rows)
        scoring = make_scorer(log_loss, greater_is_better=False, response_method="predict_proba",
                              labels=np.unique(y))
        search = GridSearchCV(model, {"C": list(config.stack_c_grid)}, cv=GroupKFold(k), scoring=scoring,
                              refit=True).fit(x, y, groups=groups)
    stacker = search.best_estimator_
    c = calibrated[0].shape[1]
    norms = np.array([np.abs(stacker.coef_[:, i * c:(i + 1) * c]).sum() for i in range(len(calibrated))])
    weights = norms / norms.sum() if norms.sum() > 0 else np.full(len(calibrated), 1 / len(calibrated))
    comb = Combination("stack", tuple(config.members), weights, temperatures, inner, stacker)
    p = comb(calibrated)
    inner["combination"] = {"log_loss": balanced_log_loss(p, y), "uar": _uar(p, y), "c": float(stacker.C)}
    return comb
