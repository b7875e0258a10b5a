"""The fold trainer: one held-out subject, trained on the others only. A plain function; runs without Ray.

Honest-evaluation rules enforced here (see DESIGN.md): the held-out subject's labels arrive masked; no held-out
row enters pretraining, normalisation, balancing, augmentation or epoch choice; epochs are either fixed or
chosen on an inner split of the TRAINING subjects.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import numpy as np
import torch

from mer_ray.data import MASKED_LABEL, FeatureSet
from mer_ray.inputs import InputBuilder, balanced_epoch, in_chans
from mer_ray.metrics import pooled_scores
from mer_ray.pretrained import load_pretrained, save_pretrained

CLASSIFIERS = ("softmax", "hinge", "svc")
FORMAT = torch.channels_last  # NHWC: 1.2-1.3x faster training of these nets on CPU (max-pool, depthwise convs)
EPOCH_SELECTION = ("fixed", "inner")


@dataclass(frozen=True)
class TrainConfig:
    """Everything one fold's training depends on. Defaults are the paper's settings where it gives them.

    Attributes:
        model: registry name (``mer_ray.models.list_models()``).
        modality: fine-tuning input: ``"flow"`` (u, v, strain) or ``"apex"`` (grayscale apex face).
        input_size: model input side in pixels (features are stored at the preprocessing size, usually 224).
        classifier: ``"softmax"`` (cross-entropy), ``"hinge"`` (multi-class hinge, paper Eq. 17) or ``"svc"``
            (sklearn SVC fitted on the training embeddings of the softmax-trained network).
        pretrain: pretrain on flow features (training subjects only) and initialise fine-tuning from it.
        pretrain_epochs: epochs of flow pretraining.
        epochs: fine-tuning epochs (``epoch_selection="inner"``: the maximum tried).
        epoch_selection: ``"fixed"`` or ``"inner"`` (best inner-validation UAR on held-back TRAINING subjects).
        inner_fraction: share of training subjects held back by ``"inner"`` selection.
        batch_size: mini-batch size.
        lr: Adam learning rate (paper: 1e-3).
        l2: Keras-style L2: ``l2 * sum(w^2)`` over conv and dense kernels added to the loss (paper: 0.2).
        dropout: dropout before the classifier (paper: 0.5).
        act: ``"leaky_relu"`` (paper) or ``"relu"``.
        plateau_patience: ReduceLROnPlateau patience in epochs, on the TRAINING loss.
        plateau_factor: ReduceLROnPlateau factor.
        balanced_sampling: the same number of items per class in every epoch (paper).
        flip_expand: add mirrored copies of positive and surprise training clips (paper).
        apply_mask: multiply inputs by the stored eye / background mask.
        svc_kernel: kernel of the ``"svc"`` classifier.
        svc_c: C of the ``"svc"`` classifier.
        model_options: extra keyword arguments for ``create_model`` (e.g. ViT width).
        pretrained_from: folder of a saved pretraining run (one file per held-out subject) to initialise from
            instead of pretraining here (``pretrain`` must be on).
        save_pretrained: folder to save this fold's flow pretraining into, for reuse by later runs.
    """

    model: str = "shufflenet_v2_vit"
    modality: str = "flow"
    input_size: int = 112
    classifier: str = "hinge"
    pretrain: bool = True
    pretrain_epochs: int = 8
    epochs: int = 12
    epoch_selection: str = "fixed"
    inner_fraction: float = 0.2
    batch_size: int = 16
    lr: float = 1e-3
    l2: float = 0.2
    dropout: float = 0.5
    act: str = "leaky_relu"
    plateau_patience: int = 3
    plateau_factor: float = 0.5
    balanced_sampling: bool = True
    flip_expand: bool = True
    apply_mask: bool = True
    svc_kernel: str = "linear"
    svc_c: float = 1.0
    model_options: dict[str, Any] = field(default_factory=dict)
    pretrained_from: str = ""
    save_pretrained: str = ""

    def __post_init__(self):
        _check_choice("classifier", self.classifier, CLASSIFIERS)
        _check_choice("epoch_selection", self.epoch_selection, EPOCH_SELECTION)
        in_chans(self.modality)
        for name in ("epochs", "batch_size", "input_size"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1; got {getattr(self, name)!r}")
        if self.pretrain and self.pretrain_epochs < 1:
            raise ValueError(f"pretrain_epochs must be >= 1 when pretrain is on; got {self.pretrain_epochs}")
        if self.pretrained_from and not self.pretrain:
            raise ValueError("pretrained_from needs pretrain=True (it replaces the flow pretraining)")
        if not 0.0 < self.inner_fraction < 1.0:
            raise ValueError(f"inner_fraction must be in (0, 1); got {self.inner_fraction}")

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        """Build from a flat dict (a search-space sample); unknown keys are an error naming the valid ones."""
        known = {f.name for f in fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise ValueError(f"unknown training parameters {sorted(unknown)}; valid: {sorted(known)}")
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class FoldResult:
    """Predictions for one held-out subject (no labels: the caller joins them from its own copy)."""

    subject: str
    sample_ids: list[str]
    y_pred: np.ndarray  # (N,) int
    scores: np.ndarray  # (N, 3) float
    train_ids: list[str]
    epochs: int
    seconds: float
    model_digest: str = ""  # sha256 of the trained weights: equal digests mean identical training
    history: dict[str, list[float]] = field(default_factory=dict)


def fold_seed(base_seed: int, config_id: str, subject: str) -> int:
    """A stable seed per (configuration, held-out subject) so that a fold reruns identically."""
    digest = hashlib.sha256(f"{base_seed}|{config_id}|{subject}".encode()).digest()
    return int.from_bytes(digest[:4], "little")


def train_fold(
    config: TrainConfig,
    data: FeatureSet,
    held_out_subject: str | Sequence[str],
    seed: int,
    *,
    exclude_subjects: Sequence[str] = (),
    device: str | None = None,
    log: Callable[[str], None] | None = None,
) -> FoldResult:
    """Train on every subject but the held-out (and excluded) ones and predict the held-out subjects' clips.

    Args:
        config: training configuration.
        data: all clips, with the labels of the held-out and excluded subjects MASKED
            (``FeatureSet.with_masked_labels``).
        held_out_subject: namespaced subject id, e.g. ``"casme2/sub01"`` (LOSO), or several (an inner fold of a
            nested search).
        seed: fold seed (see :func:`fold_seed`).
        exclude_subjects: subjects neither trained on nor predicted (the outer test subject of a nested search).
        device: ``"cpu"``, ``"cuda"``...; default: CUDA when available.
        log: optional progress callback.

    Returns:
        The held-out clips' predicted labels and scores.
    """
    start = time.monotonic()
    held = [held_out_subject] if isinstance(held_out_subject, str) else list(held_out_subject)
    subjects = data.meta["subject"].to_numpy()
    test_rows = np.flatnonzero(np.isin(subjects, held))
    if len(test_rows) == 0:
        raise ValueError(f"held-out subject(s) {held!r} have no clips in the data")
    labels = data.labels
    hidden = np.isin(subjects, [*held, *exclude_subjects])
    if np.any(labels[hidden] != MASKED_LABEL):
        raise ValueError(
            f"the labels of held-out subject(s) {held!r} must be masked before training "
            "(pass data.with_masked_labels(subject)): the trainer may not see them"
        )
    train_rows = np.flatnonzero(~hidden)
    if np.any(labels[train_rows] < 0):
        raise ValueError("training rows carry masked labels: only held-out or excluded subjects may be masked")
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)

    epochs = config.epochs
    history: dict[str, list[float]] = {}
    if config.epoch_selection == "inner":
        inner_train, inner_val = _inner_split(subjects, train_rows, config.inner_fraction, rng)
        epochs, history = _choose_epochs(config, data, inner_train, inner_val, seed, device, log)

    model, builder = _fit_network(config, data, train_rows, epochs, seed, device, log, history,
                                  held_out=held[0] if len(held) == 1 and not exclude_subjects else None)
    y_pred, scores = _predict(config, model, builder, data, train_rows, test_rows, device)
    return FoldResult(
        subject=held_out_subject if isinstance(held_out_subject, str) else "+".join(held),
        sample_ids=data.meta["sample_id"].iloc[test_rows].tolist(),
        y_pred=y_pred,
        scores=scores,
        train_ids=data.meta["sample_id"].iloc[train_rows].tolist(),
        epochs=epochs,
        seconds=time.monotonic() - start,
        model_digest=_digest(model),
        history=history,
    )


def _inner_split(subjects: np.ndarray, train_rows: np.ndarray, fraction: float, rng: np.random.Generator):
    names = np.unique(subjects[train_rows])
    if len(names) < 2:
        raise ValueError("inner epoch selection needs at least 2 training subjects")
    n_val = min(len(names) - 1, max(1, round(fraction * len(names))))
    val_names = set(rng.choice(names, size=n_val, replace=False).tolist())
    in_val = np.array([subjects[r] in val_names for r in train_rows])
    return train_rows[~in_val], train_rows[in_val]


def _choose_epochs(config, data, inner_train, inner_val, seed, device, log):
    """Epoch count with the best UAR on held-back training subjects (never the held-out subject)."""
    uars: list[float] = []

    def after_epoch(epoch: int, model, builder) -> None:
        recalibrate_batchnorm(model, builder, inner_train, device)
        y_pred, _ = _predict(config, model, builder, data, inner_train, inner_val, device)
        uars.append(pooled_scores(data.labels[inner_val], y_pred)["uar"])

    _fit_network(config, data, inner_train, config.epochs, seed, device, log, {}, after_epoch=after_epoch)
    best = int(np.argmax(uars)) + 1  # first epoch reaching the best inner UAR
    return best, {"inner_uar": uars}


def _training_items(data: FeatureSet, rows: np.ndarray, flip_expand: bool) -> tuple[np.ndarray, np.ndarray]:
    """(rows, flip flags): every training row, plus mirrored copies of positive and surprise rows."""
    flips = np.zeros(len(rows), dtype=bool)
    if flip_expand:
        extra = rows[np.isin(data.labels[rows], (1, 2))]
        rows = np.concatenate([rows, extra])
        flips = np.concatenate([flips, np.ones(len(extra), dtype=bool)])
    return rows, flips


def _new_model(config: TrainConfig, modality: str, head: str):
    from mer_ray.models import create_model

    return create_model(
        config.model,
        num_classes=3,
        in_chans=in_chans(modality),
        act=config.act,
        drop_rate=config.dropout,
        head=head,
        **config.model_options,
    )


def _fit_network(config, data, train_rows, epochs, seed, device, log, history, after_epoch=None, held_out=None):
    """Optional flow pretraining, then fine-tuning on the configured modality; returns (model, input builder).

    ``held_out`` is set for the final fit of a fold (not for inner epoch selection): only then is a saved
    pretraining loaded or this one saved, since both are keyed by the held-out subject.
    """
    head = "svm" if config.classifier == "hinge" else "softmax"
    init_state = None
    features_hash = data.manifest.get("content_hash", "")
    if config.pretrain and config.pretrained_from and held_out is not None:
        init_state = load_pretrained(config.pretrained_from, held_out, config.to_dict(), features_hash)
    elif config.pretrain:
        builder = InputBuilder(data, "flow", config.input_size, config.apply_mask).fit(train_rows)
        torch.manual_seed(seed)
        pre = _new_model(config, "flow", "softmax").to(device, memory_format=FORMAT)
        _run_epochs(pre, builder, data, train_rows, config, config.pretrain_epochs, "softmax", seed, device, log,
                    history, "pretrain")
        init_state = {k: v.detach().cpu() for k, v in pre.state_dict().items()}
        if config.save_pretrained and held_out is not None:
            save_pretrained(config.save_pretrained, held_out, init_state, config.to_dict(), features_hash)
    builder = InputBuilder(data, config.modality, config.input_size, config.apply_mask).fit(train_rows)
    torch.manual_seed(seed + 2)  # the same initial head whether pretraining ran here or was loaded
    model = _new_model(config, config.modality, head)
    if init_state is not None:
        model.load_backbone_state(init_state)
    model = model.to(device, memory_format=FORMAT)
    _run_epochs(model, builder, data, train_rows, config, epochs, head, seed + 1, device, log, history, "train",
                after_epoch=after_epoch)
    recalibrate_batchnorm(model, builder, train_rows, device)
    return model, builder


@torch.no_grad()
def recalibrate_batchnorm(model: torch.nn.Module, builder: InputBuilder, rows: np.ndarray, device: str,
                          batch: int = 64) -> None:
    """Recompute BatchNorm running statistics as exact averages over the TRAINING rows ("precise BN").

    With a few hundred clips an epoch is a handful of steps, so the momentum-averaged running statistics lag
    far behind the weights and eval-mode predictions collapse to one class; an exact pass fixes that.
    """
    norms = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return
    saved = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over the pass
    was_training = model.training
    model.train()
    for start in range(0, len(rows), batch):
        model(builder(rows[start : start + batch]).to(device, memory_format=FORMAT))
    for m, momentum in zip(norms, saved):
        m.momentum = momentum
    model.train(was_training)


def _run_epochs(model, builder, data, train_rows, config, epochs, head, seed, device, log, history, phase,
                after_epoch=None):
    from mer_ray.models import keras_l2_penalty
    from mer_ray.models.heads import loss_for_head

    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    loss_fn = loss_for_head(head)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimizer, mode="min", factor=config.plateau_factor, patience=config.plateau_patience
    )
    rows, flips = _training_items(data, train_rows, config.flip_expand)
    labels = data.labels[rows]
    losses = history.setdefault(f"{phase}_loss", [])
    for epoch in range(1, epochs + 1):
        model.train()
        order = balanced_epoch(labels, rng) if config.balanced_sampling else rng.permutation(len(rows))
        total, seen = 0.0, 0
        for start in range(0, len(order), config.batch_size):
            idx = order[start : start + config.batch_size]
            if len(idx) < 2:  # BatchNorm cannot train on a single item
                continue
            x = builder(rows[idx], flips[idx]).to(device, memory_format=FORMAT)
            y = torch.from_numpy(labels[idx]).to(device)
            loss = loss_fn(model(x), y)
            if config.l2:
                loss = loss + keras_l2_penalty(model, config.l2)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += float(loss.detach()) * len(idx)
            seen += len(idx)
        epoch_loss = total / max(seen, 1)
        plateau.step(epoch_loss)  # on the TRAINING loss: the held-out subject never steers training
        losses.append(epoch_loss)
        if log:
            log(f"{phase} epoch {epoch}/{epochs} loss {epoch_loss:.4f}")
        if after_epoch is not None:
            after_epoch(epoch, model, builder)


@torch.no_grad()
def _embed_or_logits(model, builder, rows, device, embed: bool, batch: int = 64) -> np.ndarray:
    model.eval()
    outs = []
    for start in range(0, len(rows), batch):
        x = builder(rows[start : start + batch]).to(device, memory_format=FORMAT)
        out = model.forward_features(x) if embed else model(x)
        outs.append(out.float().cpu().numpy())
    return np.concatenate(outs)


def _predict(config, model, builder, data, train_rows, test_rows, device):
    """Predicted labels and (N, 3) scores of ``test_rows``; an SVC is fitted on TRAINING embeddings only."""
    from mer_ray.models.heads import scores_from_logits

    if config.classifier == "svc":
        from sklearn.svm import SVC

        train_emb = _embed_or_logits(model, builder, train_rows, device, embed=True)
        test_emb = _embed_or_logits(model, builder, test_rows, device, embed=True)
        mean, std = train_emb.mean(axis=0), train_emb.std(axis=0) + 1e-6
        svc = SVC(kernel=config.svc_kernel, C=config.svc_c, class_weight="balanced",
                  decision_function_shape="ovr")
        svc.fit((train_emb - mean) / std, data.labels[train_rows])
        decision = svc.decision_function((test_emb - mean) / std)
        scores = np.zeros((len(test_rows), 3), dtype=np.float32)
        decision = decision.reshape(len(test_rows), -1)
        if decision.shape[1] == len(svc.classes_):
            scores[:, svc.classes_] = decision
        else:  # two classes: one decision column, positive for classes_[1]
            scores[:, svc.classes_[1]] = decision[:, 0]
            scores[:, svc.classes_[0]] = -decision[:, 0]
        return svc.predict((test_emb - mean) / std).astype(np.int64), scores
    head = "svm" if config.classifier == "hinge" else "softmax"
    logits = torch.from_numpy(_embed_or_logits(model, builder, test_rows, device, embed=False))
    scores = scores_from_logits(logits, head).numpy()
    return scores.argmax(axis=1).astype(np.int64), scores.astype(np.float32)


def _digest(model: torch.nn.Module) -> str:
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def _check_choice(name: str, value: Any, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {list(allowed)}; got {value!r}")
