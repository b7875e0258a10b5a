"""Model zoo behind a registry: ``create_model(name, num_classes=3, in_chans=3, **options)``, ``list_models()``.

Registered: shufflenet_v2, shufflenet_v2_cbam, shufflenet_v2_vit (the paper's models), the Table 2 / 4
baselines mobilenet_v2, resnet50, deit_tiny, and the shallow flow peers ststnet, off_apexnet, sssnet. Every
model follows `MERModel`: ``forward``, ``forward_features`` (pooled embedding for an SVC), ``embed``,
``num_features``, ``classifier``, ``head_kind``, ``load_backbone_state``.
"""

from mer_ray.models import deit, mobilenet, peers, resnet, shufflenet  # noqa: F401  (registers the models)
from mer_ray.models._base import MERModel, adapt_input_conv
from mer_ray.models._registry import create_model, list_models, model_options
from mer_ray.models.heads import loss_for_head, scores_from_logits
from mer_ray.models.regularization import keras_l2_penalty
from mer_ray.models.shufflenet import CBAMConfig, ShuffleNetConfig, ShuffleNetV2
from mer_ray.models.vit_block import ViTBlockConfig

__all__ = [
    "CBAMConfig",
    "MERModel",
    "ShuffleNetConfig",
    "ShuffleNetV2",
    "ViTBlockConfig",
    "adapt_input_conv",
    "create_model",
    "keras_l2_penalty",
    "list_models",
    "loss_for_head",
    "model_options",
    "scores_from_logits",
]
