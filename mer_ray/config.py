"""Typed configuration of a fold's training: :class:`TrainConfig` (a torch network trained by ``mer_ray.train``).

Configurations travel as these dataclasses inside ``mer_ray``; they become plain dicts only at the Ray Tune
boundary and in the run folder's JSON files (``to_dict`` / ``from_dict``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from mer_ray.augment import FlowAugment
from mer_ray.inputs import FLOW_NORMS, in_chans
from preprocessing.validation import from_dict

CLASSIFIERS = ("softmax", "hinge", "svc")
EPOCH_SELECTION = ("fixed", "inner")
LR_SCHEDULES = ("plateau", "cosine")


@dataclass(frozen=True)
class TrainConfig:
    """Everything one fold's training depends on. Defaults are the paper's settings where it gives them.

    Attributes:
        method: ``"network"`` (this configuration's kind in ``mer_ray.methods``).
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
        flow_norm: ``"dataset"`` (per-channel standardisation), ``"clip"`` (each clip scaled by its own peak
            first) or ``"minmax"`` (STSTNet's per-map min-max first); see ``InputBuilder``.
        aug_rotate, aug_scale, aug_translate, aug_magnitude, aug_flip: flow-aware augmentation of training batches
            (``mer_ray.augment.FlowAugment``; ``aug_flip``: probability of a left-right mirror, any class); 0 = off.
        tta_flip: predict (and fit an SVC) on the mean output of each input and of its left-right mirror.
        mixup: Beta(mixup, mixup) mixing of training pairs (softmax head only); 0 = off.
        label_smoothing: cross-entropy label smoothing (softmax head only).
        au_weight: weight of an auxiliary multi-label loss on the sheets' action-unit codes of the TRAINING clips
            (a linear AU head on the embedding, dropped after training; ``mer_ray.action_units``); 0 = off.
        au_min_count: an AU becomes an auxiliary target when at least this many training clips code it.
        lr_schedule: ``"plateau"`` (ReduceLROnPlateau on the training loss, the paper's) or ``"cosine"`` (to 0
            over the epochs).
        weight_decay: decoupled weight decay (AdamW) on every parameter; 0 = plain Adam (with ``l2``).
        ensemble: networks trained per fold from different seeds, their scores averaged (1: one network).
        precision: ``"fp32"`` or ``"bf16"`` (autocast of the forward pass and loss; GPUs with bf16 support).
        svc_kernel: kernel of the ``"svc"`` classifier.
        svc_c: C of the ``"svc"`` classifier.
        model_options: extra keyword arguments for ``create_model`` (e.g. ViT width).
        pretrained_from: folder of a saved pretraining run (one file per held-out subject) to initialise from
            instead of pretraining here (``pretrain`` must be on).
        save_pretrained: folder to save this fold's flow pretraining into, for reuse by later runs.
    """

    method: str = "network"  # the method registry's key (``mer_ray.methods``): a torch network trained here
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
    flow_norm: str = "dataset"
    aug_rotate: float = 0.0
    aug_scale: float = 0.0
    aug_translate: float = 0.0
    aug_magnitude: float = 0.0
    aug_flip: float = 0.0
    tta_flip: bool = False
    mixup: float = 0.0
    label_smoothing: float = 0.0
    au_weight: float = 0.0
    au_min_count: int = 5
    lr_schedule: str = "plateau"
    weight_decay: float = 0.0
    precision: str = "fp32"
    ensemble: int = 1
    svc_kernel: str = "linear"
    svc_c: float = 1.0
    model_options: dict[str, Any] = field(default_factory=dict)
    pretrained_from: str = ""
    save_pretrained: str = ""

    def __post_init__(self):
        _check_choice("method", self.method, ("network",))
        _check_choice("classifier", self.classifier, CLASSIFIERS)
        _check_choice("epoch_selection", self.epoch_selection, EPOCH_SELECTION)
        in_chans(self.modality)
        for name in ("epochs", "batch_size", "input_size", "ensemble"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1; got {getattr(self, name)!r}")
        if self.pretrain and self.pretrain_epochs < 1:
            raise ValueError(f"pretrain_epochs must be >= 1 when pretrain is on; got {self.pretrain_epochs}")
        if self.pretrained_from and not self.pretrain:
            raise ValueError("pretrained_from needs pretrain=True (it replaces the flow pretraining)")
        _check_choice("lr_schedule", self.lr_schedule, LR_SCHEDULES)
        _check_choice("flow_norm", self.flow_norm, FLOW_NORMS)
        _check_choice("precision", self.precision, ("fp32", "bf16"))
        self.augment()  # validates the augmentation ranges
        if self.mixup < 0 or not 0 <= self.label_smoothing < 1 or self.weight_decay < 0:
            raise ValueError(f"mixup and weight_decay must be >= 0 and label_smoothing in [0, 1); got mixup="
                             f"{self.mixup}, label_smoothing={self.label_smoothing}, weight_decay={self.weight_decay}")
        if (self.mixup or self.label_smoothing or self.au_weight) and self.classifier == "hinge":
            raise ValueError("mixup, label_smoothing and au_weight need a softmax-trained network "
                             "(classifier softmax or svc)")
        if self.au_weight < 0 or self.au_min_count < 1:
            raise ValueError(f"au_weight must be >= 0 and au_min_count >= 1; got {self.au_weight}, "
                             f"{self.au_min_count}")
        if not 0.0 < self.inner_fraction < 1.0:
            raise ValueError(f"inner_fraction must be in (0, 1); got {self.inner_fraction}")

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        """Build from a flat dict (a search-space sample); unknown keys are an error naming the valid ones."""
        return from_dict(cls, values, "TrainConfig", "training parameters")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def augment(self) -> FlowAugment:
        return FlowAugment(self.aug_rotate, self.aug_scale, self.aug_translate, self.aug_magnitude, self.aug_flip)


def _check_choice(name: str, value: Any, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {list(allowed)}; got {value!r}")
