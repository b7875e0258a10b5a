"""The network fold trainer: one held-out subject, trained on the others only. A plain function; runs without Ray.

Honest-evaluation rules enforced here (README, "Honest evaluation"): the held-out subject's labels arrive masked;
no held-out row enters pretraining, normalisation, balancing, augmentation or epoch choice; epochs are either
fixed or chosen on an inner split of the TRAINING subjects.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from mer_ray.data.features import FeatureSet
from mer_ray.data.inputs import MEMORY_FORMAT, InputBuilder, balanced_epoch, in_chans
from mer_ray.evaluation.folds import FoldResult, fold_rows, inner_split
from mer_ray.evaluation.metrics import pooled_scores
from mer_ray.training.classifiers import make_classifier
from mer_ray.training.config import TrainConfig
from mer_ray.training.ensemble import ensemble_prediction
from mer_ray.training.pretraining import load_pretrained, save_pretrained

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
        on_epoch: optional per-epoch callback (:data:`OnEpoch`): the phases' training losses and the inner
            validation UAR (training subjects only); not called for the extra networks of an ensemble.
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


def au_probabilities(config: TrainConfig, model: torch.nn.Module, builder: InputBuilder, rows: np.ndarray,
                     device: str) -> np.ndarray:
    """(N, K) float64 sigmoid of the multi-label head's logits (mirror-averaged logits with ``tta_flip``)."""
    from mer_ray.training.classifiers import network_outputs

    logits = network_outputs(model, builder, rows, device, embed=False, mirror=config.tta_flip)
    return 1.0 / (1.0 + np.exp(-logits.astype(np.float64)))


def classify(config: TrainConfig, model: torch.nn.Module, builder: InputBuilder, labels: np.ndarray,
             train_rows: np.ndarray, test_rows: np.ndarray, device: str) -> tuple[np.ndarray, np.ndarray]:
    """Fit the configured classifier on the TRAINING rows of a trained network; ``(y_pred, scores)`` of
    ``test_rows``."""
    fitted = make_classifier(config).fit(model, builder, train_rows, labels[train_rows], device)
    return fitted.predict(model, builder, test_rows, device)


def member_seed(seed: int, member: int) -> int:
    """The seed of an ensemble's ``member``-th network (member 0: the fold's own seed)."""
    return seed + 7919 * member


def fold_epochs(ctx: FitContext, train_rows: np.ndarray) -> int:
    """The configuration's fixed epochs, or with ``epoch_selection="inner"`` the count chosen on held-back whole
    training subjects (:func:`choose_epochs`)."""
    if ctx.config.epoch_selection != "inner":
        return ctx.config.epochs
    rng = np.random.default_rng(ctx.seed)
    subjects = ctx.data.meta["subject"].to_numpy()
    fit_rows, val_rows = inner_split(subjects, train_rows, ctx.config.inner_fraction, rng)
    return choose_epochs(ctx, fit_rows, val_rows)


def choose_epochs(ctx: FitContext, fit_rows: np.ndarray, val_rows: np.ndarray) -> int:
    """Epoch count with the best UAR on held-back training subjects (never the held-out subject)."""
    uars: list[float] = []
    classifier = make_classifier(ctx.config)
    labels = ctx.data.labels

    def after_epoch(epoch: int, model, builder) -> None:
        recalibrate_batchnorm(model, builder, fit_rows, ctx.device)
        if ctx.au is not None:  # AU detection: the mean macro F1 of the held-back training subjects
            from mer_ray.evaluation.au_task import decide, pooled

            y_pred, _ = decide(au_probabilities(ctx.config, model, builder, val_rows, ctx.device), ctx.au.active)
            uars.append(np.nan_to_num(pooled(ctx.au.targets[val_rows].astype(np.int64), y_pred)["f1_macro"]))
        else:
            fitted = classifier.fit(model, builder, fit_rows, labels[fit_rows], ctx.device)
            y_pred, _ = fitted.predict(model, builder, val_rows, ctx.device)
            uars.append(pooled_scores(labels[val_rows], y_pred)["uar"])
        if ctx.on_epoch is not None:
            ctx.on_epoch("inner", epoch, {"f1_macro" if ctx.au is not None else "uar": uars[-1]})

    relay = ctx.on_epoch
    inner = FitContext(ctx.config, ctx.data, ctx.device, ctx.seed, ctx.log,  # its losses are not the fold's
                       on_epoch=None if relay is None else lambda phase, e, v: relay(f"inner_{phase}", e, v),
                       au=ctx.au)
    fit_network(inner, fit_rows, ctx.config.epochs, after_epoch=after_epoch)
    ctx.history["inner_uar"] = uars
    return int(np.argmax(uars)) + 1  # first epoch reaching the best inner UAR


def _training_items(labels: np.ndarray, rows: np.ndarray, flip_expand: bool) -> tuple[np.ndarray, np.ndarray]:
    """(rows, flip flags): every training row, plus mirrored copies of positive and surprise rows."""
    flips = np.zeros(len(rows), dtype=bool)
    if flip_expand:
        extra = rows[np.isin(labels[rows], (1, 2))]
        rows = np.concatenate([rows, extra])
        flips = np.concatenate([flips, np.ones(len(extra), dtype=bool)])
    return rows, flips


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
        _run_epochs(ctx, pre, builder, train_rows, Phase("pretrain", "softmax", config.pretrain_epochs, seed))
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
    _run_epochs(ctx, model, builder, train_rows, Phase("train", head, epochs, seed + 1), after_epoch)
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


def _run_epochs(ctx: FitContext, model: torch.nn.Module, builder: InputBuilder, train_rows: np.ndarray,
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
            rows, flips = _training_items(ctx.data.labels, train_rows, config.flip_expand)
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


class BatchSource:
    """Training batches of one phase.

    Small inputs (the builder's downscaled cache) and any accelerator: every training item, flips applied, is built
    ONCE on the device and batches are indexed there (augmentation runs on the device too). Full-size inputs on
    a CPU: built batch by batch from the shared arrays (no per-trial copy of the data set). Both give the same
    values, hence the same training, on a CPU.
    """

    def __init__(self, builder: InputBuilder, rows: np.ndarray, flips: np.ndarray, labels: np.ndarray, device: str):
        self.builder, self.rows, self.flips, self.device = builder, rows, flips, device
        self.resident = builder.cached or torch.device(device).type != "cpu"
        self.labels = torch.from_numpy(labels).to(device)
        if self.resident:
            self.raw = builder.raw(rows, flips).to(device)  # (N, C, S, S) un-normalised, flips applied
            self.mean = torch.from_numpy(builder.mean_)[None, :, None, None].to(device)
            self.std = torch.from_numpy(builder.std_)[None, :, None, None].to(device)
            self.flow = builder.modality == "flow"

    def __call__(self, idx: np.ndarray, augment=None, generator: torch.Generator | None = None):
        """``(x (B, C, S, S) normalised, channels-last, on the device; y (B,))`` of training items ``idx``."""
        index = torch.from_numpy(np.asarray(idx, dtype=np.int64))
        if not self.resident:
            x = self.builder.batch(self.rows[idx], self.device, self.flips[idx], augment, generator)
            return x, self.labels[index.to(self.device)]
        index = index.to(self.device)
        x = self.raw[index]
        if augment is not None:
            x = augment(x, flow=self.flow, generator=generator)
        x = ((x - self.mean) / self.std).contiguous(memory_format=MEMORY_FORMAT)
        return x, self.labels[index]


def _digest(model: torch.nn.Module) -> str:
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()
