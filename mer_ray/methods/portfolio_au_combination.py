"""Combining an AU-detection portfolio's members' per-AU probabilities of presence (:mod:`mer_ray.methods.portfolio`
with ``au``): binary temperature calibration, the class-balanced binary cross-entropy, and the temperatures and
weights, shared by the AUs, fitted on out-of-fold probabilities."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mer_ray.methods.portfolio_combination import EPS, TEMPERATURES, Combination, simplex_grid
from mer_ray.methods.portfolio_config import PortfolioConfig

# ---- AU detection: per-AU probabilities of presence ------------------------------------------------------------


def au_probabilities(scores: np.ndarray) -> np.ndarray:
    """(N, K) float64 probabilities of presence of a member's AU scores (already probabilities: a network's
    sigmoids, the probe's ``predict_proba``), floored away from 0 and 1; NaN (an AU skipped) stays NaN."""
    return np.clip(np.asarray(scores, dtype=np.float64), EPS, 1 - EPS)


def temper_binary(p: np.ndarray, temperature: float) -> np.ndarray:
    """Probabilities of presence recalibrated by a temperature (sigmoid of logit(p) / T); NaN stays NaN."""
    q = np.clip(p, EPS, 1 - EPS)
    return 1.0 / (1.0 + np.exp(-np.log(q / (1 - q)) / temperature))


def balanced_bce(p: np.ndarray, y: np.ndarray, mask: np.ndarray) -> float:
    """Mean over the AUs (columns) with both classes among the ``mask``-ed entries of the class-balanced binary
    cross-entropy: the mean of the positives' and the negatives' mean negative log-probability (the binary
    counterpart of :func:`~mer_ray.methods.portfolio_combination.balanced_log_loss`)."""
    q = np.clip(np.where(mask, p, 0.5), EPS, 1 - EPS)
    nll = -np.where(y == 1, np.log(q), np.log(1 - q))
    losses = []
    for k in range(y.shape[1]):
        pos, neg = mask[:, k] & (y[:, k] == 1), mask[:, k] & (y[:, k] == 0)
        if pos.any() and neg.any():
            losses.append((nll[pos, k].mean() + nll[neg, k].mean()) / 2)
    return float(np.mean(losses)) if losses else float("nan")


def _au_f1(p: np.ndarray, y: np.ndarray, mask: np.ndarray) -> float:
    from mer_ray.evaluation.au_task import SKIPPED, pooled

    y_pred = np.where(mask, (np.nan_to_num(p) > 0.5).astype(np.int64), SKIPPED)
    return float(np.nan_to_num(pooled(y.astype(np.int64), y_pred)["f1_macro"]))


@dataclass
class AuCombination:
    """A fitted combination of the members' per-AU probabilities (:func:`fit_au_combination`): one temperature per
    member and one weight per member, shared by the AUs (fitted on all of them together: steadier than per AU on a
    few hundred clips)."""

    combiner: str
    members: tuple[str, ...]
    weights: np.ndarray
    temperatures: np.ndarray
    inner: dict[str, Any] = field(default_factory=dict)

    def __call__(self, probs: Sequence[np.ndarray]) -> np.ndarray:
        return sum(w * temper_binary(p, t) for w, p, t in zip(self.weights, probs, self.temperatures))

    def record(self) -> dict[str, Any]:
        return Combination.record(self)  # type: ignore[arg-type]


def fit_au_combination(config: PortfolioConfig, probs: Sequence[np.ndarray], y: np.ndarray) -> AuCombination:
    """Fit temperatures and weights to the members' out-of-fold AU probabilities ``probs`` (each (N, K), NaN where
    an inner fold skipped the AU) and the TRAINING clips' AU presence ``y`` (N, K): the class-balanced binary
    cross-entropy (``objective="log_loss"``) or the mean macro F1 at 0.5 (``"uar"``, ties by the loss) of the
    weighted mean, over the entries every member scored.

    Raises:
        ValueError: ``combiner="stack"`` (no AU form).
    """
    if config.combiner == "stack":
        raise ValueError("--task au: the portfolio's 'stack' combiner has no AU form; use 'weights' or 'select'")
    members = tuple(config.members)
    mask = np.all([~np.isnan(p) for p in probs], axis=0)
    temperatures = np.ones(len(members))
    if config.calibrate:
        temperatures = np.array([min(TEMPERATURES, key=lambda t: (balanced_bce(temper_binary(p, t), y, mask),
                                                                     abs(t - 1))) for p in probs])
    calibrated = [temper_binary(p, t) for p, t in zip(probs, temperatures)]
    inner = {"members": {name: {"log_loss": balanced_bce(p, y, mask), "f1_macro": _au_f1(p, y, mask)}
                         for name, p in zip(members, calibrated)}}
    grid = np.eye(len(members)) if config.combiner == "select" else simplex_grid(len(members), config.weight_step)
    best, best_key = None, None
    for w in grid:
        p = sum(wi * pi for wi, pi in zip(w, calibrated))
        loss = balanced_bce(p, y, mask)
        key = (loss,) if config.objective == "log_loss" else (-_au_f1(p, y, mask), loss)
        if best_key is None or key < tuple(k - 1e-12 for k in best_key):
            best, best_key = w, key
    p = sum(wi * pi for wi, pi in zip(best, calibrated))
    inner["combination"] = {"log_loss": balanced_bce(p, y, mask), "f1_macro": _au_f1(p, y, mask)}
    return AuCombination(config.combiner, members, best.copy(), temperatures, inner)
