"""MobileNetV2 (Sandler et al. 2018), a Table 2 / Table 4 baseline.

Same layers and state-dict keys as torchvision's ``mobilenet_v2`` (except ``classifier.1`` -> ``classifier``):
3,504,872 parameters at 1000 classes. ``act="relu"`` gives the published ReLU6; ``"leaky_relu"`` (the
registry default, as the paper swaps ReLU for LeakyReLU) replaces every ReLU6.
"""

from __future__ import annotations

from functools import partial

from torch import Tensor, nn

from mer_ray.models._base import MERModel
from mer_ray.models._registry import register_model
from mer_ray.models.layers import KERAS_LEAKY_SLOPE, check_activation, init_cnn_weights, make_act, make_divisible

# (expansion t, output channels c, repeats n, first stride s), the paper's Table 2.
INVERTED_RESIDUAL_SETTING = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
                             (6, 160, 3, 2), (6, 320, 1, 1))


def _conv_bn_act(inp: int, oup: int, kernel: int, stride: int, act_factory, groups: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(inp, oup, kernel, stride, kernel // 2, groups=groups, bias=False),
                         nn.BatchNorm2d(oup), act_factory())


class InvertedResidual(nn.Module):
    """Expand 1x1 -> depthwise 3x3 -> linear 1x1 projection, residual when shapes allow."""

    def __init__(self, inp: int, oup: int, stride: int, expand_ratio: int, act_factory) -> None:
        super().__init__()
        hidden = int(round(inp * expand_ratio))
        self.use_res_connect = stride == 1 and inp == oup
        layers: list[nn.Module] = []
        if expand_ratio != 1:
            layers.append(_conv_bn_act(inp, hidden, 1, 1, act_factory))
        layers += [
            _conv_bn_act(hidden, hidden, 3, stride, act_factory, groups=hidden),
            nn.Conv2d(hidden, oup, 1, bias=False),
            nn.BatchNorm2d(oup),
        ]
        self.conv = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        """``(B, inp, H, W)`` -> ``(B, oup, H / stride, W / stride)``."""
        return x + self.conv(x) if self.use_res_connect else self.conv(x)


class MobileNetV2(MERModel):
    """MobileNetV2 1.0x; pooled embedding width 1280. Arguments as `ShuffleNetV2` (no attention options)."""

    stem_conv_key = "features.0.0.weight"

    def __init__(self, num_classes: int = 3, in_chans: int = 3, *, act: str = "leaky_relu",
                 act_slope: float = KERAS_LEAKY_SLOPE, drop_rate: float = 0.5, head: str = "softmax") -> None:
        super().__init__(num_classes=num_classes, in_chans=in_chans, drop_rate=drop_rate, head=head)
        check_activation(act, act_slope)
        self.act, self.act_slope = act, act_slope
        act_factory = partial(make_act, act, act_slope, relu6=True)
        inp, last = make_divisible(32), make_divisible(1280)
        features: list[nn.Module] = [_conv_bn_act(in_chans, inp, 3, 2, act_factory)]
        for t, c, n, s in INVERTED_RESIDUAL_SETTING:
            oup = make_divisible(c)
            for i in range(n):
                features.append(InvertedResidual(inp, oup, s if i == 0 else 1, t, act_factory))
                inp = oup
        features.append(_conv_bn_act(inp, last, 1, 1, act_factory))
        self.features = nn.Sequential(*features)
        self._build_head(last)
        init_cnn_weights(self, act, act_slope)

    def forward_features(self, x: Tensor) -> Tensor:
        """``(B, in_chans, H, W)`` -> pooled ``(B, 1280)``."""
        return self.features(x).mean(dim=(2, 3))


register_model("mobilenet_v2", MobileNetV2, ("act_slope",))
