"""ResNet50 (He et al. 2016; v1.5 stride on the 3x3 conv), a Table 2 / Table 4 baseline.

Same layers and state-dict keys as torchvision's ``resnet50`` (except ``fc`` -> ``classifier``): 25,557,032
parameters at 1000 classes. ``act`` picks ReLU (published) or LeakyReLU (registry default, as the paper).
"""

from __future__ import annotations

from functools import partial

from torch import Tensor, nn

from mer_ray.models._base import MERModel
from mer_ray.models._registry import register_model
from mer_ray.models.layers import KERAS_LEAKY_SLOPE, check_activation, init_cnn_weights, make_act

LAYERS = (3, 4, 6, 3)
EXPANSION = 4


class Bottleneck(nn.Module):
    """1x1 reduce -> 3x3 (carries the stride) -> 1x1 expand x4, plus identity or projection shortcut."""

    def __init__(self, inp: int, planes: int, stride: int, act_factory) -> None:
        super().__init__()
        out = planes * EXPANSION
        self.conv1 = nn.Conv2d(inp, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, out, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out)
        self.relu = act_factory()
        self.downsample = None
        if stride != 1 or inp != out:
            self.downsample = nn.Sequential(nn.Conv2d(inp, out, 1, stride, bias=False), nn.BatchNorm2d(out))

    def forward(self, x: Tensor) -> Tensor:
        """``(B, inp, H, W)`` -> ``(B, 4 * planes, H / stride, W / stride)``."""
        identity = x if self.downsample is None else self.downsample(x)
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.relu(self.bn2(self.conv2(y)))
        return self.relu(self.bn3(self.conv3(y)) + identity)


class ResNet50(MERModel):
    """ResNet50; pooled embedding width 2048. Arguments as `ShuffleNetV2` (no attention options)."""

    stem_conv_key = "conv1.weight"

    def __init__(self, num_classes: int = 3, in_chans: int = 3, *, act: str = "leaky_relu",
                 act_slope: float = KERAS_LEAKY_SLOPE, drop_rate: float = 0.5, head: str = "softmax") -> None:
        super().__init__(num_classes=num_classes, in_chans=in_chans, drop_rate=drop_rate, head=head)
        check_activation(act, act_slope)
        self.act, self.act_slope = act, act_slope
        act_factory = partial(make_act, act, act_slope)
        self.conv1 = nn.Conv2d(in_chans, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = act_factory()
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        inp = 64
        for i, (planes, blocks) in enumerate(zip((64, 128, 256, 512), LAYERS), start=1):
            stride = 1 if i == 1 else 2
            layer = [Bottleneck(inp, planes, stride, act_factory)]
            inp = planes * EXPANSION
            layer += [Bottleneck(inp, planes, 1, act_factory) for _ in range(blocks - 1)]
            setattr(self, f"layer{i}", nn.Sequential(*layer))
        self._build_head(inp)
        init_cnn_weights(self, act, act_slope)

    def forward_features(self, x: Tensor) -> Tensor:
        """``(B, in_chans, H, W)`` -> pooled ``(B, 2048)``."""
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))  # (B, 64, H/4, W/4)
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))  # (B, 2048, H/32, W/32)
        return x.mean(dim=(2, 3))


register_model("resnet50", ResNet50, ("act_slope",))
