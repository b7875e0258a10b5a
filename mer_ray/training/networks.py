"""One network fit: building the network (:func:`new_model`), optional flow pretraining then fine-tuning on the
configured modality (:func:`fit_network`), and the exact BatchNorm recalibration after training
(:func:`recalibrate_batchnorm`)."""

from __future__ import annotations

import numpy as np
import torch

from mer_ray.data.inputs import MEMORY_FORMAT, InputBuilder, in_chans
from mer_ray.training.classifiers import make_classifier
from mer_ray.training.config import TrainConfig
from mer_ray.training.context import AfterEpoch, FitContext, Phase
from mer_ray.training.epoch_loop import run_epochs
from mer_ray.training.pretraining import load_pretrained, save_pretrained


def new_model(config: TrainConfig, modality: str, head: str, num_classes: int = 3) -> torch.nn.Module:
    from mer_ray.models import create_model

    return create_model(config.model, num_classes=num_classes, in_chans=in_chans(modality), act=config.act,
                        drop_rate=config.dropout, head=head, **config.model_options)


def fit_network(ctx: FitContext, train_rows: np.ndarray, epochs: int, *, after_epoch: AfterEpoch | None = None,
                 held_out: str | None = None) -> tuple[torch.nn.Module, InputBuilder]:
    """Optional flow pretraining, then fine-tuning on the configured modality; returns (model, input builder).

    ``held_out`` is set for the final fit of a fold (not for inner epoch selection): only then is a saved
    pretraining loaded or this one saved, since both are keyed by the held-out subject.
    """
    config, data, seed = ctx.config, ctx.data, ctx.seed
    head = make_classifier(config).head
    init_state = None
    features_hash = data.manifest.get("content_hash", "")
    if config.pretrain and config.pretrained_from and held_out is not None:
        init_state = load_pretrained(config.pretrained_from, held_out, config, features_hash)
    elif config.pretrain:
        builder = InputBuilder(data, "flow", config.input_size, config.apply_mask, config.flow_norm).fit(train_rows)
        torch.manual_seed(seed)
        pre = new_model(config, "flow", "softmax").to(ctx.device, memory_format=MEMORY_FORMAT)
        run_epochs(ctx, pre, builder, train_rows, Phase("pretrain", "softmax", config.pretrain_epochs, seed))
        init_state = {k: v.detach().cpu() for k, v in pre.state_dict().items()}
        if config.save_pretrained and held_out is not None:
            save_pretrained(config.save_pretrained, held_out, init_state, config, features_hash)
    if not (config.pretrain and not config.pretrained_from and config.modality == "flow"):
        builder = InputBuilder(data, config.modality, config.input_size, config.apply_mask,
                               config.flow_norm).fit(train_rows)
    torch.manual_seed(seed + 2)  # the same initial head whether pretraining ran here or was loaded
    outputs = 3 if ctx.au is None else len(ctx.au.active)  # AU detection: one logit per AU
    model = new_model(config, config.modality, head, outputs)
    if init_state is not None:
        model.load_backbone_state(init_state)
    model = model.to(ctx.device, memory_format=MEMORY_FORMAT)
    run_epochs(ctx, model, builder, train_rows, Phase("train", head, epochs, seed + 1), after_epoch)
    recalibrate_batchnorm(model, builder, train_rows, ctx.device)
    return model, builder


# every BatchNorm layer kind (torch's lazy ones become one of these on their first forward pass)
BATCH_NORMS = (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d, torch.nn.BatchNorm3d, torch.nn.SyncBatchNorm)


@torch.no_grad()
def recalibrate_batchnorm(model: torch.nn.Module, builder: InputBuilder, rows: np.ndarray, device: str,
                          batch: int = 64) -> None:
    """Recompute BatchNorm running statistics as exact averages over the TRAINING rows ("precise BN").

    With a few hundred clips an epoch is a handful of steps, so the momentum-averaged running statistics lag
    far behind the weights and eval-mode predictions collapse to one class; an exact pass fixes that.
    """
    norms = [m for m in model.modules() if isinstance(m, BATCH_NORMS)]
    if not norms:
        return
    saved = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over the pass
    was_training = model.training
    model.train()
    for start in range(0, len(rows), batch):
        model(builder.batch(rows[start : start + batch], device))
    for m, momentum in zip(norms, saved):
        m.momentum = momentum
    model.train(was_training)
