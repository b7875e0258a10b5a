"""Losses and scores of the two heads: softmax (cross-entropy) and SVM (multi-class hinge, the paper's Eq. 17).

Both heads are the same dropout + linear layer on the pooled embedding; they differ only in the loss. The
third classifier of the paper's pipeline, an sklearn SVC, is fitted on `MERModel.embed` outputs by the trainer.

Hinge power: Eq. 17 is PyTorch's ``MultiMarginLoss`` formula (Weston-Watkins: sum over wrong classes of
max(0, margin - x_y + x_i)^p, divided by the number of classes) and names no p; we default to its p = 1
with margin 1, the plain hinge (PyTorch's default). ``p = 2`` (squared hinge, the L2-SVM of Tang 2013) is an
option. Note that Keras' ``categorical_hinge`` is neither: it is the Crammer-Singer hinge
max(0, 1 + max_{i != y} x_i - x_y), unsquared; Keras' ``squared_hinge`` is one-vs-rest on +-1 targets.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from mer_ray.models._base import HEAD_KINDS
from mer_ray.models.layers import check_choice

SVM_MARGIN = 1.0
SVM_P = 1  # Eq. 17 / MultiMarginLoss default; see the module docstring


def loss_for_head(head_kind: str, *, margin: float = SVM_MARGIN, p: int = SVM_P,
                  label_smoothing: float = 0.0) -> Callable[[Tensor, Tensor], Tensor]:
    """Loss ``(logits (B, C), targets (B,) int64) -> scalar`` for a head kind.

    Args:
        head_kind: "softmax" -> ``nn.CrossEntropyLoss()``; "svm" -> ``nn.MultiMarginLoss(p=p, margin=margin)``.
        margin: Hinge margin (svm only).
        p: 1 (hinge) or 2 (squared hinge) (svm only).
        label_smoothing: Cross-entropy label smoothing (softmax only).
    """
    check_choice("head_kind", head_kind, HEAD_KINDS)
    if head_kind == "softmax":
        return nn.CrossEntropyLoss(label_smoothing=label_smoothing)
    check_choice("p", p, (1, 2))
    if not isinstance(margin, int | float) or isinstance(margin, bool) or margin <= 0:
        raise ValueError(f"margin must be a number > 0, got {margin!r}")
    return nn.MultiMarginLoss(p=p, margin=float(margin))


def scores_from_logits(logits: Tensor, head_kind: str) -> Tensor:
    """Probability-like scores ``(B, C)`` (rows sum to 1) for ROC / calibration style metrics.

    Softmax for both heads: for the SVM head the logits are margins, and their softmax is a monotone,
    uncalibrated score (argmax unchanged), not a probability estimate.
    """
    check_choice("head_kind", head_kind, HEAD_KINDS)
    return torch.softmax(logits.float(), dim=-1)
