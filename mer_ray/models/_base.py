"""Common model interface: pooled embedding, dropout + linear classifier, head kind, backbone loading."""

from __future__ import annotations

import logging
from abc import ABCMeta, abstractmethod
from collections.abc import Mapping

import torch
from torch import Tensor, nn

from mer_ray.models.layers import check_choice, check_number

logger = logging.getLogger(__name__)

HEAD_KINDS = ("softmax", "svm")
# Prefixes that wrappers add to state-dict keys: DataParallel/DDP ("module.") and torch.compile ("_orig_mod.").
_WRAPPER_PREFIXES = ("module.", "_orig_mod.")


def adapt_input_conv(weight: Tensor, in_chans: int) -> Tensor:
    """Adapt a first-conv kernel (O, I, kh, kw) to ``in_chans`` input channels.

    Every new input channel gets ``sum_i weight[:, i] / in_chans``, so the layer's response to an input whose
    channels are all equal (e.g. a grayscale face replicated to 3 channels) is unchanged: 3 -> 1 sums the
    kernels, 1 -> 3 repeats them divided by 3.
    """
    summed = weight.sum(dim=1, keepdim=True)  # (O, 1, kh, kw)
    return (summed / in_chans).repeat(1, in_chans, 1, 1)


class MERModel(nn.Module, metaclass=ABCMeta):
    """Base of every registered model.

    Subclasses build their backbone, implement `forward_features` (pooled ``(B, num_features)`` embedding)
    and call `_build_head` last. The classifier is ``self.classifier`` (a single ``nn.Linear``) preceded by
    ``self.head_drop`` (dropout) in every model, so trainers can treat all models alike.

    Attributes:
        num_classes: Outputs of the classifier.
        num_features: Width D of the pooled embedding (what an sklearn SVC is fitted on).
        head_kind: "softmax" (cross-entropy) or "svm" (multi-class hinge); see `mer_ray.models.heads`.
        in_chans: Input channels (3 for flow u, v, strain; 1 for a grayscale face).
        stem_conv_key: State-dict key of the first convolution's kernel (adapted when in_chans differs).
    """

    stem_conv_key: str = ""
    min_input_size: int = 64
    default_input_size: int = 224

    def __init__(self, *, num_classes: int, in_chans: int, drop_rate: float, head: str) -> None:
        super().__init__()
        check_number("num_classes", num_classes, low=1, integer=True)
        check_number("in_chans", in_chans, low=1, integer=True)
        check_number("drop_rate", drop_rate, low=0.0, high=1.0)
        check_choice("head", head, HEAD_KINDS)
        self.num_classes = num_classes
        self.in_chans = in_chans
        self.drop_rate = drop_rate
        self.head_kind = head
        self.num_features = 0

    def _build_head(self, num_features: int) -> None:
        self.num_features = num_features
        self.head_drop = nn.Dropout(self.drop_rate)
        self.classifier = nn.Linear(num_features, self.num_classes)
        nn.init.normal_(self.classifier.weight, 0.0, 0.01)
        nn.init.zeros_(self.classifier.bias)

    @abstractmethod
    def forward_features(self, x: Tensor) -> Tensor:
        """Map an input batch ``(B, in_chans, H, W)`` to its pooled embedding ``(B, num_features)``."""

    def forward_head(self, features: Tensor) -> Tensor:
        """Dropout then the linear classifier: ``(B, num_features)`` -> logits ``(B, num_classes)``."""
        return self.classifier(self.head_drop(features))

    def forward(self, x: Tensor) -> Tensor:
        """Logits ``(B, num_classes)`` for an input batch ``(B, in_chans, H, W)``."""
        return self.forward_head(self.forward_features(x))

    @torch.no_grad()
    def embed(self, x: Tensor) -> Tensor:
        """Embeddings for an sklearn SVC: `forward_features` in eval mode without gradients, on the CPU.

        The module's train/eval mode is restored afterwards.
        """
        was_training = self.training
        self.eval()
        try:
            return self.forward_features(x).float().cpu()  # (B, num_features)
        finally:
            self.train(was_training)

    def load_backbone_state(self, state_dict: Mapping[str, Tensor]) -> list[str]:
        """Load every matching non-classifier tensor of ``state_dict`` (e.g. weights pretrained on flow).

        Keys of the classifier are skipped, as are keys this model lacks or whose shape differs. The first
        convolution is adapted with `adapt_input_conv` when only its input channels differ (flow-pretrained
        3-channel weights into a 1-channel grayscale model, or back). ``module.`` / ``_orig_mod.`` prefixes
        (DataParallel, torch.compile) are stripped.

        Returns:
            The keys that were loaded, in ``state_dict`` order.

        Raises:
            ValueError: if no key could be loaded (the state dict belongs to another architecture).
        """
        own = self.state_dict()
        to_load: dict[str, Tensor] = {}
        skipped: list[str] = []
        for raw_key, value in state_dict.items():
            key = raw_key
            for prefix in _WRAPPER_PREFIXES:
                key = key.removeprefix(prefix)
            if key.startswith("classifier.") or key not in own:
                skipped.append(raw_key)
                continue
            target = own[key]
            if (key == self.stem_conv_key and value.dim() == 4 and value.shape[1] != target.shape[1]
                    and value.shape[0] == target.shape[0] and value.shape[2:] == target.shape[2:]):
                value = adapt_input_conv(value.to(target.dtype), target.shape[1])
            if value.shape != target.shape:
                skipped.append(raw_key)
                continue
            to_load[key] = value
        if not to_load:
            raise ValueError(
                f"load_backbone_state: none of the {len(state_dict)} keys matches {type(self).__name__} "
                f"(first keys found: {list(state_dict)[:3]}, expected e.g. {list(own)[:3]}); pass the state dict "
                "of a model created with the same registry name"
            )
        self.load_state_dict(to_load, strict=False)
        if skipped:
            logger.info("load_backbone_state: loaded %d keys, skipped %d (classifier, missing or reshaped)",
                        len(to_load), len(skipped))
        return list(to_load)
