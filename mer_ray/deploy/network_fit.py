"""Training one network configuration on ALL subjects of a features folder (:func:`fit_all`), as ``train_fold``
trains a fold's training subjects (``train_au_fold`` under AU detection): the networks a network bundle holds
(:class:`FittedModel`, written by :func:`mer_ray.deploy.bundle_save.save_bundle`); a portfolio's network members are
fitted with it too (:mod:`mer_ray.deploy.portfolio_fit`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from mer_ray.data.features import FeatureSet
from mer_ray.deploy.au_bundle import AuDecision
from mer_ray.deploy.bundle import Member
from mer_ray.evaluation.au_task import AuTask
from mer_ray.infra.errors import as_usage_error
from mer_ray.training.config import TrainConfig


@dataclass
class FittedModel:
    """Networks trained on every clip of a FeatureSet (one per ensemble member) and what a bundle records."""

    config: TrainConfig
    members: list[Member]
    epochs: int
    seconds: float
    scores: np.ndarray  # (N, 3) the fitted classifiers' own scores of the training clips (the round-trip check)
    history: dict[str, list[float]] = field(default_factory=dict)
    au: AuDecision | None = None  # AU detection: scores are (N, K) probabilities, NaN for skipped AUs


def fit_all(config: TrainConfig, data: FeatureSet, seed: int, *, device: str | None = None,
            log: Callable[[str], None] | None = None, au: AuTask | None = None) -> FittedModel:
    """Train ``config`` on every clip of ``data``, exactly as ``train_fold`` trains a fold's training subjects.

    Epochs: ``config.epochs``, or with ``epoch_selection="inner"`` the best inner-validation epoch on held-back
    subjects (whole subjects, ``config.inner_fraction`` of them). Ensemble members use the seeds ``train_fold``
    uses. A saved pretraining (``pretrained_from``) is keyed by a held-out subject, so pretraining runs here.
    ``au``: AU detection, as ``train_au_fold``: one sigmoid output per AU trained with class-balanced BCE on the
    coded clips; an AU with too few positives is skipped (``FittedModel.au``).
    """
    import torch

    from mer_ray.deploy.svc_arrays import ArraySVC
    from mer_ray.training.classifiers import make_classifier
    from mer_ray.training.context import AuFit, FitContext
    from mer_ray.training.ensemble import mean_scores
    from mer_ray.training.epoch_selection import fold_epochs
    from mer_ray.training.networks import fit_network
    from mer_ray.training.prediction import au_probabilities
    from mer_ray.training.trainer import member_seed

    start = time.monotonic()
    config = replace(config, pretrained_from="", save_pretrained="")
    labels = data.labels
    rows = np.arange(len(data))
    decision = targets = None
    if au is not None:  # the coded clips' AU presence; the emotion labels play no part
        from mer_ray.deploy.au_bundle import all_targets

        check_au_config(config, au)
        targets = all_targets(au, data)
        decision = AuDecision.of(au, targets)
    elif np.any(labels < 0):
        raise ValueError("every clip needs a label to fit on all subjects; the features carry masked labels")
    train = rows if targets is None else targets.rows
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    fit = None if targets is None else AuFit.of(targets.rows, targets.y, targets.active, len(data))
    ctx = FitContext(config, data, device, seed, log, au=fit)
    torch.manual_seed(seed)
    epochs = fold_epochs(ctx, train)
    members, member_scores = [], []
    for k in range(config.ensemble):
        member_ctx = ctx if k == 0 else FitContext(config, data, device, member_seed(seed, k), log, au=fit)
        network, builder = fit_network(member_ctx, train, epochs, held_out=None)
        svc = None
        if decision is not None:
            member_scores.append(au_probabilities(config, network, builder, rows, device))
        else:
            classifier = make_classifier(config).fit(network, builder, rows, labels, device)
            member_scores.append(classifier.predict(network, builder, rows, device)[1])
            svc = ArraySVC.from_pipeline(classifier.pipeline_) if config.classifier == "svc" else None
        members.append(Member(network.cpu().eval(), builder.mean_.copy(), builder.std_.copy(), svc))
    # an ensemble's AU probabilities are averaged (train_au_fold), its class scores too (train_fold)
    scores = mean_scores(member_scores) if decision is None else decision.decide(np.mean(member_scores, axis=0))[1]
    return FittedModel(config, members, epochs, time.monotonic() - start, scores, ctx.history, decision)


def check_au_config(config: Any, au: AuTask | None) -> None:
    """Refuse (one ``UsageError`` line) a configuration without a multi-label form under ``--task au``
    (``mer_ray.methods.check_task``: a network's SVC or hinge classifier)."""
    from mer_ray.methods import check_task

    with as_usage_error(ValueError):
        check_task(config, au)
