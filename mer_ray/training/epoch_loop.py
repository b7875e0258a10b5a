"""The epoch loop of one phase (:func:`run_epochs`): the optimiser and learning-rate schedule, the optimisation
steps with their loss (:class:`PhaseSteps`: mixup, label smoothing, L2) and the auxiliary AU loss
(:class:`AuxiliaryAU`)."""

from __future__ import annotations

import numpy as np
import torch

from mer_ray.data.inputs import InputBuilder, balanced_epoch
from mer_ray.training.batches import BatchSource, training_items
from mer_ray.training.config import TrainConfig
from mer_ray.training.context import AfterEpoch, FitContext, Phase


def run_epochs(ctx: FitContext, model: torch.nn.Module, builder: InputBuilder, train_rows: np.ndarray,
               phase: Phase, after_epoch: AfterEpoch | None = None) -> None:
    """Train ``model`` for ``phase.epochs`` epochs on ``train_rows``; record, log and report each epoch's loss."""
    config = ctx.config
    rng = np.random.default_rng(phase.seed)
    torch.manual_seed(phase.seed)
    steps = PhaseSteps(ctx, model, builder, train_rows, phase, rng)
    scheduler = _lr_scheduler(config, steps.optimizer, phase.epochs)
    losses = ctx.history.setdefault(f"{phase.name}_loss", [])
    for epoch in range(1, phase.epochs + 1):
        epoch_loss = steps.epoch()
        if config.lr_schedule == "cosine":
            scheduler.step()
        else:
            scheduler.step(epoch_loss)  # on the TRAINING loss: the held-out subject never steers training
        losses.append(epoch_loss)
        if ctx.log:
            ctx.log(f"{phase.name} epoch {epoch}/{phase.epochs} loss {epoch_loss:.4f}")
        if ctx.on_epoch is not None:
            ctx.on_epoch(phase.name, epoch, {"loss": epoch_loss})
        if after_epoch is not None:
            after_epoch(epoch, model, builder)


def _optimizer(config: TrainConfig, params: list[torch.nn.Parameter]) -> torch.optim.Optimizer:
    """AdamW with ``config.weight_decay``, else Adam."""
    if config.weight_decay:
        return torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    return torch.optim.Adam(params, lr=config.lr)


def _lr_scheduler(config: TrainConfig, optimizer: torch.optim.Optimizer, epochs: int):
    """Cosine annealing over ``epochs``, or reduce-on-plateau of the training loss."""
    if config.lr_schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, epochs))
    return torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimizer, mode="min", factor=config.plateau_factor, patience=config.plateau_patience
    )


class PhaseSteps:
    """The optimisation steps of one phase: its training items (flips added), batches, loss and optimiser.

    Built after the phase's seeds are set; ``rng`` draws the epoch orders and the mixup pairs.
    """

    def __init__(self, ctx: FitContext, model: torch.nn.Module, builder: InputBuilder, train_rows: np.ndarray,
                 phase: Phase, rng: np.random.Generator):
        from mer_ray.models.heads import loss_for_head

        config = ctx.config
        self.config, self.model, self.rng, self.device = config, model, rng, ctx.device
        self.generator = torch.Generator().manual_seed(phase.seed)  # augmentation draws, on the CPU
        self.augment = config.augment() if config.augment().active else None
        softmax = phase.head == "softmax"
        self.mixup = bool(config.mixup) and softmax
        self.multilabel = ctx.au is not None and phase.name == "train"  # AU detection's fine-tuning
        if self.multilabel:
            self.loss_fn = ctx.au.loss(ctx.device)
            rows, flips = train_rows, np.zeros(len(train_rows), dtype=bool)
        else:
            self.loss_fn = loss_for_head(phase.head, label_smoothing=config.label_smoothing if softmax else 0.0)
            rows, flips = training_items(ctx.data.labels, train_rows, config.flip_expand)
        self.au = AuxiliaryAU.build(ctx, model, rows) if config.au_weight and softmax and not self.multilabel else None
        params = list(model.parameters()) + ([] if self.au is None else list(self.au.head.parameters()))
        self.optimizer = _optimizer(config, params)
        self.labels = ctx.au.targets[rows] if self.multilabel else ctx.data.labels[rows]
        self.batches = BatchSource(builder, rows, flips, self.labels, ctx.device)
        self.autocast = torch.autocast(device_type=torch.device(ctx.device).type, dtype=torch.bfloat16,
                                       enabled=config.precision == "bf16")

    def epoch(self) -> float:
        """One pass over the training items (balanced or shuffled order); the mean training loss."""
        config = self.config
        self.model.train()
        if config.balanced_sampling and not self.multilabel:
            order = balanced_epoch(self.labels, self.rng)
        else:
            order = self.rng.permutation(len(self.labels))
        total = torch.zeros((), dtype=torch.float64, device=self.device)  # summed on the device: no sync per step
        seen = 0
        for start in range(0, len(order), config.batch_size):
            idx = order[start : start + config.batch_size]
            if len(idx) < 2:  # BatchNorm cannot train on a single item
                continue
            x, y = self.batches(idx, self.augment, self.generator)
            with self.autocast:
                loss = self.batch_loss(x, y, idx)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            total += loss.detach().float().double() * len(idx)
            seen += len(idx)
        return float(total) / max(seen, 1)  # the epoch's one host synchronisation

    def batch_loss(self, x: torch.Tensor, y: torch.Tensor, idx: np.ndarray) -> torch.Tensor:
        """The loss of training items ``idx`` (inputs ``x``, labels ``y``): mixup, the auxiliary AU loss and the L2
        penalty included where configured."""
        from mer_ray.models import keras_l2_penalty

        config = self.config
        lam, perm = 1.0, None
        if self.mixup:
            lam = float(self.rng.beta(config.mixup, config.mixup))
            perm = torch.from_numpy(self.rng.permutation(len(idx))).to(self.device)
            x = lam * x + (1 - lam) * x[perm]
        embedding = self.model.forward_features(x) if self.au is not None else None
        out = self.model(x) if embedding is None else self.model.forward_head(embedding)
        loss_fn = self.loss_fn
        loss = loss_fn(out, y) if perm is None else lam * loss_fn(out, y) + (1 - lam) * loss_fn(out, y[perm])
        if self.au is not None:
            loss = loss + config.au_weight * self.au.loss(embedding, idx, lam, perm)
        if config.l2:
            loss = loss + keras_l2_penalty(self.model, config.l2)
        return loss



class AuxiliaryAU:
    """The auxiliary AU loss of one phase: a linear multi-label head on the embedding, trained with the network
    on the training items' sheet AU codes and dropped afterwards (``TrainConfig.au_weight``)."""

    def __init__(self, head: torch.nn.Linear, targets: torch.Tensor, coded: torch.Tensor):
        self.head, self.targets, self.coded = head, targets, coded

    @classmethod
    def build(cls, ctx: FitContext, model: torch.nn.Module, rows: np.ndarray) -> AuxiliaryAU | None:
        """From the AU codes of training items ``rows``; None (and a log line) when they have too few codes."""
        from mer_ray.data.action_units import au_targets

        meta = ctx.data.meta
        codes = meta["action_units"].to_numpy()[rows] if "action_units" in meta else [""] * len(rows)
        vocabulary, targets, coded = au_targets(codes, ctx.config.au_min_count)
        if not vocabulary:
            if ctx.log:
                ctx.log(f"auxiliary AU loss off: no AU is coded on {ctx.config.au_min_count}+ training clips")
            return None
        head = torch.nn.Linear(model.num_features, len(vocabulary)).to(ctx.device)
        return cls(head, torch.from_numpy(targets).to(ctx.device), torch.from_numpy(coded).to(ctx.device))

    def loss(self, embedding: torch.Tensor, idx: np.ndarray, lam: float = 1.0,
             perm: torch.Tensor | None = None) -> torch.Tensor:
        """Mean binary cross-entropy over the coded items of the batch ``idx`` (mixed like the inputs)."""
        index = torch.from_numpy(np.asarray(idx, dtype=np.int64)).to(embedding.device)
        target, coded = self.targets[index], self.coded[index].float()
        if perm is not None:
            target, coded = lam * target + (1 - lam) * target[perm], coded * coded[perm]
        per_item = torch.nn.functional.binary_cross_entropy_with_logits(
            self.head(embedding).float(), target, reduction="none").mean(dim=1)
        return (per_item * coded).sum() / coded.sum().clamp(min=1.0)
