"""Typed configuration of a fold's training: :class:`TrainConfig` (a torch network trained by
``mer_ray.training.trainer``).

Configurations travel as these dataclasses inside ``mer_ray``; they become plain dicts only at the Ray Tune
boundary and in the run folder's JSON files (``to_dict`` / ``from_dict``).

Every value is checked at construction, whichever way it comes in (``--set``, a search space, ``run.json``,
``bundle.json``, the Python API): each field's type is its annotation and its range or choices are declared with it
(``setting(...)``), checked by ``mer_ray.infra.validation.check_fields`` (typing introspection of the dataclass, see
there why not pydantic); a refused value is one ``ValueError`` line naming the key, the value and what was expected
(``lr='fast': expected a number > 0``). The checks across fields follow in ``__post_init__``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from mer_ray.data.augment import FlowAugment
from mer_ray.data.features import MODALITIES
from mer_ray.data.inputs import FLOW_NORMS
from mer_ray.deploy.svc_arrays import KERNELS as SVC_KERNELS  # the kernels a bundle can store
from mer_ray.infra.validation import check_fields, check_known_keys, from_dict, setting
from mer_ray.models import list_models, model_options
from mer_ray.models.layers import ACTIVATIONS

CLASSIFIERS = ("softmax", "hinge", "svc")
EPOCH_SELECTION = ("fixed", "inner")
LR_SCHEDULES = ("plateau", "cosine")
PRECISIONS = ("fp32", "bf16")


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
        aug_rotate, aug_scale, aug_translate, aug_magnitude, aug_flip: flow-aware augmentation of training
            batches (``mer_ray.data.augment.FlowAugment``; ``aug_flip``: probability of a left-right mirror, any
            class); 0 = off.
        tta_flip: predict (and fit an SVC) on the mean output of each input and of its left-right mirror.
        mixup: Beta(mixup, mixup) mixing of training pairs (softmax head only); 0 = off.
        label_smoothing: cross-entropy label smoothing (softmax head only).
        au_weight: weight of an auxiliary multi-label loss on the sheets' action-unit codes of the TRAINING clips
            (a linear AU head on the embedding, dropped after training; ``mer_ray.data.action_units``); 0 = off.
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

    method: str = setting("network", choices=("network",))  # the method registry's key (``mer_ray.methods``)
    model: str = setting("shufflenet_v2_vit", choices=list_models)
    modality: str = setting("flow", choices=MODALITIES)
    input_size: int = setting(112, ge=1)
    classifier: str = setting("hinge", choices=CLASSIFIERS)
    pretrain: bool = True
    pretrain_epochs: int = setting(8, ge=0)  # >= 1 when pretrain is on (checked below)
    epochs: int = setting(12, ge=1)
    epoch_selection: str = setting("fixed", choices=EPOCH_SELECTION)
    inner_fraction: float = setting(0.2, gt=0, lt=1)
    batch_size: int = setting(16, ge=1)
    lr: float = setting(1e-3, gt=0)
    l2: float = setting(0.2, ge=0)
    dropout: float = setting(0.5, ge=0, lt=1)
    act: str = setting("leaky_relu", choices=ACTIVATIONS)
    plateau_patience: int = setting(3, ge=0)
    plateau_factor: float = setting(0.5, gt=0, lt=1)
    balanced_sampling: bool = True
    flip_expand: bool = True
    apply_mask: bool = True
    flow_norm: str = setting("dataset", choices=FLOW_NORMS)
    aug_rotate: float = setting(0.0, ge=0)
    aug_scale: float = setting(0.0, ge=0, lt=1)
    aug_translate: float = setting(0.0, ge=0, lt=1)
    aug_magnitude: float = setting(0.0, ge=0, lt=1)
    aug_flip: float = setting(0.0, ge=0, le=1)
    tta_flip: bool = False
    mixup: float = setting(0.0, ge=0)
    label_smoothing: float = setting(0.0, ge=0, lt=1)
    au_weight: float = setting(0.0, ge=0)
    au_min_count: int = setting(5, ge=1)
    lr_schedule: str = setting("plateau", choices=LR_SCHEDULES)
    weight_decay: float = setting(0.0, ge=0)
    precision: str = setting("fp32", choices=PRECISIONS)
    ensemble: int = setting(1, ge=1)
    svc_kernel: str = setting("linear", choices=SVC_KERNELS)
    svc_c: float = setting(1.0, gt=0)
    model_options: dict[str, Any] = field(default_factory=dict)
    pretrained_from: str = ""
    save_pretrained: str = ""

    def __post_init__(self):
        check_fields(self)  # each field's type (its annotation) and range (declared above); then across fields:
        if self.pretrain and self.pretrain_epochs < 1:
            raise ValueError(f"pretrain_epochs={self.pretrain_epochs!r}: expected an integer >= 1 when pretrain is "
                             "on")
        if self.pretrained_from and not self.pretrain:
            raise ValueError("pretrained_from needs pretrain=True (it replaces the flow pretraining)")
        if (self.mixup or self.label_smoothing or self.au_weight) and self.classifier == "hinge":
            raise ValueError("mixup, label_smoothing and au_weight need a softmax-trained network "
                             "(classifier softmax or svc)")
        check_known_keys(f"model {self.model!r}", self.model_options, model_options(self.model),
                         "model_options")

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        """Build from a flat dict (a search-space sample); unknown keys are an error naming the valid ones."""
        return from_dict(cls, values, "TrainConfig", "training parameters")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def augment(self) -> FlowAugment:
        return FlowAugment(self.aug_rotate, self.aug_scale, self.aug_translate, self.aug_magnitude, self.aug_flip)

