"""An ensemble's prediction: its members' scores averaged, its class the arg-max (``TrainConfig.ensemble``).

The one definition shared by the fold trainer, the fit on all subjects and a loaded bundle, so that a bundle
scores a clip exactly as LOSO scored a held-out one.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def mean_scores(member_scores: Sequence[np.ndarray]) -> np.ndarray:
    """``(N, 3)`` float32 mean of the members' ``(N, 3)`` scores, summed in member order."""
    total = member_scores[0]
    for scores in member_scores[1:]:
        total = total + scores
    return (total / len(member_scores)).astype(np.float32)


def ensemble_prediction(members: Sequence[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """``(y_pred (N,) int64, scores (N, 3) float32)`` of an ensemble from its members' ``(y_pred, scores)``.

    One member: its own prediction, unchanged (an SVC's vote may differ from the arg-max of its scores). Several:
    the arg-max of :func:`mean_scores`.
    """
    if len(members) == 1:
        return members[0]
    scores = mean_scores([member_scores for _, member_scores in members])
    return scores.argmax(axis=1).astype(np.int64), scores
