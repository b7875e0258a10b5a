"""The network fold trainer: one held-out subject, trained on the others only. A plain function; runs without Ray.

Holds the fold entry points (:func:`train_fold`, :func:`train_au_fold` for AU detection), the fit of a fold's
network and its ensemble members, and the fold's result. The pieces live beside it: the shared fit context
(``context.py``), epoch selection (``epoch_selection.py``), one network fit (``networks.py``), the epoch loop
(``epoch_loop.py``), training items and batches (``batches.py``) and predictions (``prediction.py``).

Honest-evaluation rules enforced here (README, "Honest evaluation"): the held-out subject's labels arrive masked;
no held-out row enters pretraining, normalisation, balancing, augmentation or epoch choice; epochs are either
fixed or chosen on an inner split of the TRAINING subjects.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from mer_ray.data.features import FeatureSet
from mer_ray.data.inputs import InputBuilder
from mer_ray.evaluation.folds import FoldResult, fold_rows
from mer_ray.training.config import TrainConfig
from mer_ray.training.context import AuFit, FitContext, OnEpoch
from mer_ray.training.ensemble import ensemble_prediction
from mer_ray.training.epoch_selection import fold_epochs
from mer_ray.training.networks import fit_network
from mer_ray.training.prediction import au_probabilities, classify


def train_fold(
    config: TrainConfig,
    data: FeatureSet,
    held_out_subject: str | Sequence[str],
    seed: int,
    *,
    exclude_subjects: Sequence[str] = (),
    device: str | None = None,
    log: Callable[[str], None] | None = None,
    on_epoch: OnEpoch | None = None,
    au=None,
) -> FoldResult:
    """Train on every subject but the held-out (and excluded) ones and predict the held-out subjects' clips.

    Args:
        config: training configuration.
        data: all clips, with the labels of the held-out and excluded subjects MASKED
            (``FeatureSet.with_masked_labels``).
        held_out_subject: namespaced subject id, e.g. ``"casme2/sub01"`` (LOSO), or several (an inner fold of a
            nested search).
        seed: fold seed (see :func:`mer_ray.evaluation.folds.fold_seed`).
        exclude_subjects: subjects neither trained on nor predicted (the outer test subject of a nested search).
        device: ``"cpu"``, ``"cuda"``...; default: CUDA when available.
        log: optional progress callback.
        on_epoch: optional per-epoch callback (:data:`~mer_ray.training.context.OnEpoch`): the phases' training
            losses and the inner validation UAR (training subjects only); not called for the extra networks of an
            ensemble.
        au: the AU detection task (:class:`~mer_ray.evaluation.au_task.AuTask`): the network is fine-tuned with
            a multi-label head (one logit per AU, class-balanced binary cross-entropy) on the training clips' sheet
            codes and predicts each AU's presence (sigmoid > 0.5); see :func:`train_au_fold`.

    Returns:
        The held-out clips' predicted labels and scores.
    """
    if au is not None:
        return train_au_fold(config, data, held_out_subject, seed, au, exclude_subjects=exclude_subjects,
                             device=device, log=log, on_epoch=on_epoch)
    start = time.monotonic()
    held = [held_out_subject] if isinstance(held_out_subject, str) else list(held_out_subject)
    train_rows, test_rows = fold_rows(data, held, exclude_subjects)
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    ctx = FitContext(config, data, device, seed, log, on_epoch=on_epoch)
    single = held[0] if len(held) == 1 and not exclude_subjects else None
    epochs, model, predictions = fit_members(  # an ensemble's scores are averaged
        ctx, train_rows, single, lambda net, builder: classify(config, net, builder, data.labels, train_rows,
                                                               test_rows, device))
    y_pred, scores = ensemble_prediction(predictions)
    return fold_result(ctx, held_out_subject, train_rows, test_rows, y_pred, scores, epochs, model, start)


def fit_members(ctx: FitContext, train_rows: np.ndarray, single: str | None,
                predict: Callable[[torch.nn.Module, InputBuilder], Any]) -> tuple[int, torch.nn.Module, list]:
    """The fold's network, and an ensemble's other members (other seeds, same epoch count), fitted on
    ``train_rows``: ``(epochs, the first network, [predict(network, builder) of each])``."""
    torch.manual_seed(ctx.seed)
    epochs = fold_epochs(ctx, train_rows)
    model, builder = fit_network(ctx, train_rows, epochs, held_out=single)
    outputs = [predict(model, builder)]
    for member in range(1, ctx.config.ensemble):
        other = FitContext(ctx.config, ctx.data, ctx.device, member_seed(ctx.seed, member), ctx.log, au=ctx.au)
        net, net_builder = fit_network(other, train_rows, epochs, held_out=None)
        outputs.append(predict(net, net_builder))
    return epochs, model, outputs


def fold_result(ctx: FitContext, held_out_subject: str | Sequence[str], train_rows: np.ndarray,
                test_rows: np.ndarray, y_pred: np.ndarray, scores: np.ndarray, epochs: int, model: torch.nn.Module,
                start: float, details: dict | None = None) -> FoldResult:
    """A network fold's result: the held-out clips' predictions with the fold's provenance."""
    meta = ctx.data.meta
    return FoldResult(
        subject=held_out_subject if isinstance(held_out_subject, str) else "+".join(held_out_subject),
        sample_ids=meta["sample_id"].iloc[test_rows].tolist(),
        y_pred=y_pred,
        scores=scores,
        train_ids=meta["sample_id"].iloc[train_rows].tolist(),
        epochs=epochs,
        seconds=time.monotonic() - start,
        model_digest=_digest(model),
        history=ctx.history,
        details=details or {},
    )


def train_au_fold(config: TrainConfig, data: FeatureSet, held_out_subject: str | Sequence[str], seed: int, au, *,
                  exclude_subjects: Sequence[str] = (), device: str | None = None,
                  log: Callable[[str], None] | None = None, on_epoch: OnEpoch | None = None) -> FoldResult:
    """:func:`train_fold` for AU detection: the targets are the (coded) training clips' AU presence
    (:func:`mer_ray.evaluation.au_task.fold_targets`, which refuses visible held-out codes); the fine-tuning phase
    trains a ``K``-output head with class-balanced BCE (no class-balanced sampling and no class-dependent mirrored
    copies: those are defined by the emotion classes; label smoothing and the auxiliary AU loss do not apply); an
    ensemble averages its networks' probabilities. AUs with too few training positives are skipped (-1)."""
    from mer_ray.evaluation.au_task import decide, fold_targets

    if config.classifier != "softmax":
        raise ValueError(f"--task au: classifier={config.classifier!r} has no multi-label form; use softmax")
    start = time.monotonic()
    held = [held_out_subject] if isinstance(held_out_subject, str) else list(held_out_subject)
    train_rows, test_rows = fold_rows(data, held, exclude_subjects)
    hidden = np.flatnonzero(data.meta["subject"].isin([*held, *exclude_subjects]).to_numpy())
    targets = fold_targets(au, data.meta, train_rows, hidden)
    train_rows = targets.rows
    fit = AuFit.of(targets.rows, targets.y, targets.active, len(data))
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    ctx = FitContext(config, data, device, seed, log, on_epoch=on_epoch, au=fit)
    single = held[0] if len(held) == 1 and not exclude_subjects else None
    epochs, model, probabilities = fit_members(  # an ensemble's probabilities are averaged
        ctx, train_rows, single, lambda net, builder: au_probabilities(config, net, builder, test_rows, device))
    y_pred, scores = decide(np.mean(probabilities, axis=0), targets.active)
    return fold_result(ctx, held_out_subject, train_rows, test_rows, y_pred, scores, epochs, model, start,
                       {"au": targets.record()})



def member_seed(seed: int, member: int) -> int:
    """The seed of an ensemble's ``member``-th network (member 0: the fold's own seed)."""
    return seed + 7919 * member



def _digest(model: torch.nn.Module) -> str:
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()
