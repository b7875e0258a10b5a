"""The summary ``python -m mer_ray.fit`` prints: its first lines (what the fit trains on, :func:`print_start`; one
line per configuration, :func:`describe` and :func:`describe_probe`) and its last ones (:func:`print_ending`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mer_ray.data.features import FeatureSet
from mer_ray.deploy.au_bundle import AuDecision
from mer_ray.deploy.bundle_card import loso_figures
from mer_ray.evaluation.au_task import AuTask
from mer_ray.training.config import TrainConfig


def print_start(features: FeatureSet, au: AuTask | None) -> None:
    """The summary's first line: what the fit trains on (and the AU targets)."""
    print(f"fitting on all {len(features)} clips of {len(features.subjects)} subjects "
          f"({', '.join(features.datasets)}) from {features.source}", flush=True)
    if au is not None:
        print(f"  AU detection: {', '.join(au.names)}; an AU with fewer than {au.min_positives} positive (or "
              "negative) clips is skipped", flush=True)


def print_ending(out: Path, gap: float, train_figure: str, loso: dict[str, Any] | None, notes: list[str],
                 au: AuDecision | None = None) -> None:
    """The summary's last lines: the AUs detected, the training figure (:func:`~mer_ray.deploy.fitting.read_back`),
    round-trip gap, LOSO score, notes, the bundle."""
    if au is not None:
        print(f"  {au.summary()}")
    print(f"  {train_figure} (on the training clips: not an estimate of anything); bundle read back and checked "
          f"(max score difference {gap:.1e})")
    if loso is not None:
        flag = " (optimistic: picked by a search over the same folds)" if loso["optimistic"] else ""
        print(f"  LOSO of this configuration: {loso_figures(loso)}{flag}")
    for note in notes:
        print(f"  note: {note}")
    print(f"bundle: {out}")


def describe(config: TrainConfig) -> str:
    """One line: model, input, classifier, epochs."""
    pretrain = f", flow pretraining {config.pretrain_epochs} epochs" if config.pretrain else ""
    return (f"{config.model} on {config.modality} at {config.input_size} px, classifier {config.classifier}, "
            f"{config.epochs} epochs ({config.epoch_selection}){pretrain}")


def describe_probe(config: Any) -> str:
    """One line: a linear probe's descriptor and classifier."""
    c = f"C {config.c:g}" if config.c > 0 else f"C chosen on {config.inner_folds} grouped folds"
    return (f"{config.method}: masked ({', '.join(config.channels)}) flow pooled to {config.pool}x{config.pool}, "
            f"standardised, {config.classifier} ({c})")
