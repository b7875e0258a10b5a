"""Name -> factory registry of the model zoo (timm's pattern): `create_model`, `list_models`."""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from mer_ray.infra.validation import check_known_keys
from mer_ray.models.layers import check_choice

_MODELS: dict[str, Callable[..., nn.Module]] = {}
_OPTIONS: dict[str, tuple[str, ...]] = {}


def register_model(name: str, factory: Callable[..., nn.Module], options: tuple[str, ...] = ()) -> None:
    """Register ``factory(num_classes=, in_chans=, act=, drop_rate=, head=, **options)`` under ``name``.

    Args:
        name: Registry name (unique).
        factory: Builds the model.
        options: The extra keyword options the model accepts (validated by `create_model`).
    """
    if name in _MODELS:
        raise ValueError(f"model name {name!r} is already registered")
    _MODELS[name] = factory
    _OPTIONS[name] = tuple(options)


def list_models() -> list[str]:
    """Registered model names, sorted."""
    return sorted(_MODELS)


def model_options(name: str) -> tuple[str, ...]:
    """Extra keyword options ``name`` accepts beyond num_classes, in_chans, act, drop_rate and head."""
    check_choice("model name", name, list_models())
    return _OPTIONS[name]


def create_model(name: str, num_classes: int = 3, in_chans: int = 3, *, act: str = "leaky_relu",
                 drop_rate: float = 0.5, head: str = "softmax", **options) -> nn.Module:
    """Build a registered model.

    Args:
        name: One of `list_models()`.
        num_classes: Classifier outputs.
        in_chans: 3 for flow (u, v, strain); 1 for a grayscale face.
        act: "leaky_relu" (the paper's choice) or "relu".
        drop_rate: Dropout before the classifier.
        head: "softmax" (cross-entropy) or "svm" (multi-class hinge), see `mer_ray.models.heads`.
        **options: Model-specific options, see `model_options(name)` (e.g. ``act_slope``, ``vit_dim``).

    Raises:
        ValueError: unknown name (the message lists the valid ones), unknown option, or a bad option value.
    """
    if name not in _MODELS:
        raise ValueError(f"unknown model {name!r}; valid names: {', '.join(list_models())}")
    check_known_keys(f"model {name!r}", options, _OPTIONS[name], "options")
    return _MODELS[name](num_classes=num_classes, in_chans=in_chans, act=act, drop_rate=drop_rate, head=head,
                         **options)
