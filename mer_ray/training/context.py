"""What every network fit of a fold shares: :class:`FitContext` (configuration, data, device, seed, logging,
history), the AU detection targets :class:`AuFit`, a :class:`Phase` of epochs, and the per-epoch callback types.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from mer_ray.data.features import FeatureSet
from mer_ray.data.inputs import InputBuilder
from mer_ray.training.config import TrainConfig

AfterEpoch = Callable[[int, torch.nn.Module, InputBuilder], None]
# per-epoch callback: (phase, epoch, values), e.g. ("train", 3, {"loss": 0.71}) or ("inner", 3, {"uar": 0.52});
# the values come from training subjects only (the Tune layer reports them as intermediate results)
OnEpoch = Callable[[str, int, dict[str, float]], None]


@dataclass(frozen=True)
class AuFit:
    """The AU detection targets of a fold's network fits (``--task au``; :func:`train_fold` with ``au``).

    Attributes:
        targets: (N, K) float32 presence of every row of the data; only the fold's (coded) training rows are
            filled and read, the others are 0.
        active: (K,) bool, the AUs fitted in this fold (the others are skipped: no loss, predictions -1).
        pos_weight: (K,) float32 negatives / positives of each active AU among the training rows (class-balanced
            binary cross-entropy, as the probe's ``class_weight="balanced"``); 1 for skipped AUs.
    """

    targets: np.ndarray
    active: np.ndarray
    pos_weight: np.ndarray

    @classmethod
    def of(cls, rows: np.ndarray, y: np.ndarray, active: np.ndarray, n: int) -> AuFit:
        targets = np.zeros((n, y.shape[1]), dtype=np.float32)
        targets[rows] = y
        positives = y.sum(axis=0).astype(np.float64)
        weight = np.where(active, (len(rows) - positives) / np.maximum(positives, 1), 1.0)
        return cls(targets, np.asarray(active, dtype=bool), weight.astype(np.float32))

    def loss(self, device: str) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
        """``(logits (B, K), targets (B, K)) -> scalar``: class-balanced binary cross-entropy, mean over the batch
        and the active AUs."""
        weight = torch.from_numpy(self.pos_weight).to(device)
        active = torch.from_numpy(self.active).to(device)

        def loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
            per = torch.nn.functional.binary_cross_entropy_with_logits(logits.float(), target.float(),
                                                                       pos_weight=weight, reduction="none")
            return per[:, active].mean()

        return loss


@dataclass
class FitContext:
    """What every network fit of one fold shares: configuration, data, device, seed, logging and history."""

    config: TrainConfig
    data: FeatureSet
    device: str
    seed: int
    log: Callable[[str], None] | None = None
    history: dict[str, list[float]] = field(default_factory=dict)  # per-epoch losses (and inner UAR)
    on_epoch: OnEpoch | None = None
    au: AuFit | None = None  # AU detection: the fine-tuning trains a multi-label head on these targets


@dataclass(frozen=True)
class Phase:
    """One run of epochs: ``name`` ("pretrain" / "train"), the head trained, the epoch count and its seed."""

    name: str
    head: str
    epochs: int
    seed: int

