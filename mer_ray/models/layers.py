"""Small building blocks shared by the models: activation choice, conv-BN-act, option validation, init."""

from __future__ import annotations

import math
from collections.abc import Iterable

from torch import nn

ACTIVATIONS = ("leaky_relu", "relu")
# Keras' LeakyReLU() default alpha is 0.3 (PyTorch's is 0.01); the paper built its models in Keras 2.2.4 and
# names no slope, so the Keras default is the most likely value it trained with.
KERAS_LEAKY_SLOPE = 0.3


def check_choice(name: str, value: object, allowed: Iterable[object]) -> None:
    """Raise a ValueError naming the parameter, the allowed values and the value received."""
    allowed = tuple(allowed)
    if value not in allowed:
        raise ValueError(f"{name} must be one of {list(allowed)}, got {value!r}")


def check_number(name: str, value: object, *, low: float, high: float | None = None, integer: bool = False,
                 low_inclusive: bool = True, high_inclusive: bool = False) -> None:
    """Raise a ValueError unless ``value`` is a number in the given interval (and an int when ``integer``)."""
    kind = "an integer" if integer else "a number"
    ok_type = isinstance(value, int) if integer else isinstance(value, int | float)
    if isinstance(value, bool) or not ok_type:
        raise ValueError(f"{name} must be {kind}, got {value!r}")
    lo_ok = value >= low if low_inclusive else value > low
    hi_ok = high is None or (value <= high if high_inclusive else value < high)
    if not (lo_ok and hi_ok):
        lo = f"{'[' if low_inclusive else '('}{low}"
        hi = "inf)" if high is None else f"{high}{']' if high_inclusive else ')'}"
        raise ValueError(f"{name} must be in {lo}, {hi}, got {value!r}")


def check_activation(act: str, act_slope: float) -> None:
    """Validate the ``act`` / ``act_slope`` pair every convolutional model accepts."""
    check_choice("act", act, ACTIVATIONS)
    check_number("act_slope", act_slope, low=0.0, high=1.0)


def make_act(act: str, slope: float = KERAS_LEAKY_SLOPE, *, relu6: bool = False) -> nn.Module:
    """Return a fresh activation module.

    Args:
        act: "leaky_relu" (the paper's choice) or "relu".
        slope: Negative slope of the LeakyReLU.
        relu6: Return ReLU6 for "relu" (MobileNetV2's published activation).
    """
    check_choice("act", act, ACTIVATIONS)
    if act == "leaky_relu":
        return nn.LeakyReLU(slope, inplace=True)
    return nn.ReLU6(inplace=True) if relu6 else nn.ReLU(inplace=True)


class ConvBNAct(nn.Sequential):
    """Conv2d (no bias) -> BatchNorm2d -> optional activation, 'same' padding for odd kernels."""

    def __init__(self, in_chans: int, out_chans: int, kernel: int = 1, stride: int = 1, *, groups: int = 1,
                 act: nn.Module | None = None) -> None:
        layers: list[nn.Module] = [
            nn.Conv2d(in_chans, out_chans, kernel, stride, kernel // 2, groups=groups, bias=False),
            nn.BatchNorm2d(out_chans),
        ]
        if act is not None:
            layers.append(act)
        super().__init__(*layers)


def init_cnn_weights(model: nn.Module, act: str, slope: float) -> None:
    """He-normal (fan-out) conv kernels for the chosen activation, BN 1/0, linear N(0, 0.01), zero biases."""
    nonlinearity = "leaky_relu" if act == "leaky_relu" else "relu"
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, a=slope if act == "leaky_relu" else 0.0, mode="fan_out",
                                    nonlinearity=nonlinearity)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d | nn.GroupNorm | nn.LayerNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0.0, 0.01)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


def make_divisible(value: float, divisor: int = 8) -> int:
    """Round ``value`` to the nearest multiple of ``divisor``, never below 90% of it (MobileNetV2's rule)."""
    new = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return new + divisor if new < 0.9 * value else new


def ceil_to(value: int, multiple: int) -> int:
    """Smallest multiple of ``multiple`` that is >= ``value``."""
    return int(math.ceil(value / multiple) * multiple)
