"""ShuffleNetV2 1.0x (Ma et al. 2018; the paper's Table 1) with optional CBAM or improved-ViT attention.

Layout (224x224 input): conv1 3x3/2 24 ch -> max-pool 3x3/2 -> stage2 116 ch (4 units) -> stage3 232 ch (8)
-> stage4 464 ch (4) -> conv5 1x1 1024 ch -> global average pool -> dropout -> linear. State-dict keys follow
torchvision's ``shufflenet_v2_x1_0`` (except ``fc`` -> ``classifier``), so its ImageNet weights load through
`MERModel.load_backbone_state` when available locally.

Attention variants:
    "cbam": CBAM (Eq. 10-11) at ``cbam_placement``. The paper's Fig. 3 is an image we cannot read in the text;
        its discussion says CBAM "is applied only once in the network structure", which fits both "conv5"
        (on the 1024-channel map right before global pooling) and "stage4" (on the last stage's output). We
        default to "conv5" (the features the classifier sees); "stage4", "stages" (after stages 2, 3 and 4)
        and "units" (inside every unit, on the branch output, as CBAM's authors integrate it) are options.
    "vit": the improved ViT block (Eq. 12-15) inserted before and after the last stage (stage 4), Fig. 5.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from functools import partial

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mer_ray.infra.validation import check_known_keys
from mer_ray.models._base import MERModel
from mer_ray.models._registry import register_model
from mer_ray.models.cbam import CBAM
from mer_ray.models.layers import (
    KERAS_LEAKY_SLOPE,
    check_activation,
    check_choice,
    check_number,
    init_cnn_weights,
    make_act,
)
from mer_ray.models.vit_block import ImprovedViTBlock, ViTBlockConfig

STAGE_REPEATS = (4, 8, 4)  # Table 1: 1 stride-2 unit + 3 / 7 / 3 stride-1 units
STAGE_CHANNELS = (24, 116, 232, 464, 1024)  # conv1, stage2-4, conv5 (1.0x)
# conv1, stage2-4, conv5 per width multiplier (Ma et al. 2018, Table 5; torchvision's shufflenet_v2_x*)
WIDTHS: dict[float, tuple[int, ...]] = {
    0.5: (24, 48, 96, 192, 1024),
    1.0: STAGE_CHANNELS,
    1.5: (24, 176, 352, 704, 1024),
    2.0: (24, 244, 488, 976, 2048),
}
# "imagenet": conv 3x3/2 + max-pool 3x3/2 (4x down, for 224 px); "small": conv 3x3/1, no pool (28-64 px flow maps)
STEMS = ("imagenet", "small")
POOLS = ("avg", "grid")


def coordinate_maps(x: Tensor) -> Tensor:
    """(B, 2, H, W) x and y coordinates in [-1, 1] (CoordConv), on ``x``'s device and dtype."""
    b, _, h, w = x.shape
    ys = torch.linspace(-1, 1, h, device=x.device, dtype=x.dtype)[:, None].expand(h, w)
    xs = torch.linspace(-1, 1, w, device=x.device, dtype=x.dtype)[None, :].expand(h, w)
    return torch.stack([xs, ys])[None].expand(b, 2, h, w)
ATTENTIONS = (None, "cbam", "vit")
CBAM_PLACEMENTS = ("conv5", "stage4", "stages", "units")


def shuffle_concat(a: Tensor, b: Tensor) -> Tensor:
    """``channel_shuffle(cat([a, b], 1), groups=2)`` in one copy: channels interleave a0, b0, a1, b1, ..."""
    return torch.stack((a, b), dim=2).flatten(1, 2)  # (B, c, 2, H, W) -> (B, 2c, H, W)


class ShuffleUnit(nn.Module):
    """ShuffleNetV2 unit: channel split (stride 1) or two downsampling branches (stride 2), concat, shuffle."""

    def __init__(self, inp: int, oup: int, stride: int, act_factory, cbam_reduction: int | None = None) -> None:
        super().__init__()
        self.stride = stride
        bf = oup // 2
        if stride > 1:
            self.branch1 = nn.Sequential(
                nn.Conv2d(inp, inp, 3, stride, 1, groups=inp, bias=False),  # depthwise 3x3
                nn.BatchNorm2d(inp),
                nn.Conv2d(inp, bf, 1, bias=False),
                nn.BatchNorm2d(bf),
                act_factory(),
            )
        else:
            self.branch1 = nn.Sequential()
        self.branch2 = nn.Sequential(
            nn.Conv2d(inp if stride > 1 else bf, bf, 1, bias=False),
            nn.BatchNorm2d(bf),
            act_factory(),
            nn.Conv2d(bf, bf, 3, stride, 1, groups=bf, bias=False),  # depthwise 3x3
            nn.BatchNorm2d(bf),
            nn.Conv2d(bf, bf, 1, bias=False),
            nn.BatchNorm2d(bf),
            act_factory(),
        )
        self.cbam = CBAM(bf, cbam_reduction) if cbam_reduction is not None else None

    def forward(self, x: Tensor) -> Tensor:
        """``(B, inp, H, W)`` -> ``(B, oup, H / stride, W / stride)``."""
        if self.stride == 1:
            keep, x2 = x.chunk(2, dim=1)
            y = self.branch2(x2)
        else:
            keep, y = self.branch1(x), self.branch2(x)
        if self.cbam is not None:
            y = self.cbam(y)
        return shuffle_concat(keep, y)


@dataclass(frozen=True)
class CBAMConfig:
    """Where CBAM goes and its channel-MLP reduction r (CBAM's 16)."""

    placement: str = "conv5"  # "conv5", "stage4", "stages" or "units"; see the module docstring
    reduction: int = 16

    def validate(self) -> None:
        check_choice("cbam_placement", self.placement, CBAM_PLACEMENTS)
        check_number("cbam_reduction", self.reduction, low=1, integer=True)


@dataclass(frozen=True)
class ShuffleNetConfig:
    """Architecture of a :class:`ShuffleNetV2`.

    Attributes:
        act: "leaky_relu" (the paper's choice) or "relu" (torchvision's ShuffleNetV2).
        act_slope: LeakyReLU negative slope; 0.3 is Keras' default (the paper used Keras and names no slope).
        attention: None, "cbam" or "vit".
        width: channel multiplier (0.5, 1.0 = the paper's, 1.5, 2.0).
        stem: "imagenet" (4x downsampling before stage 2) or "small" (none: for small flow maps).
        pool: "avg" (global average pooling, the paper's) or "grid" (average pooling to a ``grid`` x ``grid``
            map, flattened: the classifier keeps WHERE on the face the motion is, which a global average
            discards; brow-up and upper-lip-up are both "upward" motion and differ only by place).
        grid: side of the pooled map with ``pool="grid"``.
        conv5: channels of the last 1x1 conv (0: the width's, 1024 at 1.0x); smaller keeps a grid head small.
        coords: append x / y coordinate maps to the input (CoordConv), another way to let features know place.
        repeats: units per stage (the paper's Table 1: 4, 8, 4); fewer for a few hundred clips.
        skip: side of a linear path (0: none): the input, area-pooled to ``skip`` x ``skip``, is concatenated to
            the pooled features, so the classifier sees the raw flow next to the learnt features ("wide and
            deep", Cheng et al. 2016): the network starts from what a linear model on the flow can do.
        cbam: CBAM settings (attention="cbam" only).
        vit: improved-ViT block settings (attention="vit" only).
    """

    act: str = "leaky_relu"
    act_slope: float = KERAS_LEAKY_SLOPE
    attention: str | None = None
    width: float = 1.0
    stem: str = "imagenet"
    pool: str = "avg"
    grid: int = 4
    conv5: int = 0
    coords: bool = False
    repeats: tuple[int, int, int] = STAGE_REPEATS
    skip: int = 0
    cbam: CBAMConfig | None = None
    vit: ViTBlockConfig | None = None

    def __post_init__(self) -> None:
        check_activation(self.act, self.act_slope)
        check_choice("attention", self.attention, ATTENTIONS)
        check_choice("width", self.width, tuple(WIDTHS))
        check_choice("stem", self.stem, STEMS)
        check_choice("pool", self.pool, POOLS)
        check_number("grid", self.grid, low=1, integer=True)
        check_number("conv5", self.conv5, low=0, integer=True)
        check_number("skip", self.skip, low=0, integer=True)
        object.__setattr__(self, "repeats", tuple(int(r) for r in self.repeats))
        if len(self.repeats) != 3 or min(self.repeats) < 1:
            raise ValueError(f"repeats must be 3 stage lengths >= 1, got {self.repeats!r}")
        if self.attention == "cbam" and self.cbam is None:
            object.__setattr__(self, "cbam", CBAMConfig())
        if self.attention == "vit" and self.vit is None:
            object.__setattr__(self, "vit", ViTBlockConfig())
        if self.attention != "cbam" and self.cbam is not None:
            raise ValueError(f"cbam_placement / cbam_reduction need attention='cbam', got attention={self.attention!r}")
        if self.attention != "vit" and self.vit is not None:
            raise ValueError(f"vit options need attention='vit', got attention={self.attention!r}")
        if self.cbam is not None:
            self.cbam.validate()
        if self.vit is not None:
            self.vit.validate()

    @classmethod
    def from_options(cls, attention: str | None = None, *, act: str = "leaky_relu",
                     act_slope: float = KERAS_LEAKY_SLOPE, width: float = 1.0, stem: str = "imagenet",
                     pool: str = "avg", grid: int = 4, conv5: int = 0, coords: bool = False,
                     repeats: tuple[int, int, int] = STAGE_REPEATS, skip: int = 0,
                     **options) -> ShuffleNetConfig:
        """From the registry's flat options: ``cbam_placement``, ``cbam_reduction`` and ``vit_<field>``."""
        cbam = {k.removeprefix("cbam_"): v for k, v in options.items() if k.startswith("cbam_") and v is not None}
        vit = {k.removeprefix("vit_"): v for k, v in options.items() if k.startswith("vit_") and v is not None}
        check_known_keys("ShuffleNetConfig", options, [*(f"cbam_{f.name}" for f in fields(CBAMConfig)),
                                                        *(f"vit_{f.name}" for f in fields(ViTBlockConfig))], "options")
        if vit and attention != "vit":
            raise ValueError(f"vit_{next(iter(vit))} needs attention='vit', got attention={attention!r}")
        if cbam and attention != "cbam":
            raise ValueError(f"cbam_placement / cbam_reduction need attention='cbam', got attention={attention!r}")
        return cls(act=act, act_slope=act_slope, attention=attention, width=width, stem=stem, pool=pool, grid=grid,
                   conv5=conv5, coords=coords, repeats=tuple(repeats), skip=skip,
                   cbam=CBAMConfig(**cbam) if attention == "cbam" else None,
                   vit=ViTBlockConfig(**vit) if attention == "vit" else None)


class ShuffleNetV2(MERModel):
    """ShuffleNetV2 1.0x for micro-expression recognition; see the module docstring for the variants.

    Args:
        config: the architecture (activation, attention and its settings).
        num_classes: Classifier outputs (3 for the MEGC2019 composite protocol).
        in_chans: 3 for flow (u, v, strain), 1 for a grayscale apex face.
        drop_rate: Dropout before the classifier (the paper's 0.5).
        head: "softmax" (cross-entropy) or "svm" (multi-class hinge); only changes the loss, see `heads`.
    """

    stem_conv_key = "conv1.0.weight"

    def __init__(self, config: ShuffleNetConfig | None = None, *, num_classes: int = 3, in_chans: int = 3,
                 drop_rate: float = 0.5, head: str = "softmax") -> None:
        super().__init__(num_classes=num_classes, in_chans=in_chans, drop_rate=drop_rate, head=head)
        config = config or ShuffleNetConfig()
        self.config = config
        self.act, self.act_slope, self.attention = config.act, config.act_slope, config.attention
        act, act_slope = config.act, config.act_slope
        act_factory = partial(make_act, act, act_slope)
        self.cbam_placement = config.cbam.placement if config.cbam else None
        reduction = config.cbam.reduction if config.cbam else 16
        unit_cbam = reduction if self.cbam_placement == "units" else None

        c1, c2, c3, c4, c5 = WIDTHS[config.width]
        c5 = config.conv5 or c5
        in_chans = in_chans + 2 if config.coords else in_chans
        stride = 2 if config.stem == "imagenet" else 1
        self.conv1 = nn.Sequential(nn.Conv2d(in_chans, c1, 3, stride, 1, bias=False), nn.BatchNorm2d(c1),
                                   act_factory())
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1) if stride == 2 else nn.Identity()
        if config.stem == "small":
            self.min_input_size = 16
        stages = []
        for inp, oup, repeats in zip((c1, c2, c3), (c2, c3, c4), config.repeats):
            units = [ShuffleUnit(inp, oup, 2, act_factory, unit_cbam)]
            units += [ShuffleUnit(oup, oup, 1, act_factory, unit_cbam) for _ in range(repeats - 1)]
            stages.append(nn.Sequential(*units))
        self.stage2, self.stage3, self.stage4 = stages
        self.conv5 = nn.Sequential(nn.Conv2d(c4, c5, 1, bias=False), nn.BatchNorm2d(c5), act_factory())

        # CBAM modules applied after a stage / conv5, keyed by that layer's name.
        self.cbam = nn.ModuleDict()
        if self.cbam_placement == "conv5":
            self.cbam["conv5"] = CBAM(c5, reduction)
        elif self.cbam_placement == "stage4":
            self.cbam["stage4"] = CBAM(c4, reduction)
        elif self.cbam_placement == "stages":
            for name, ch in (("stage2", c2), ("stage3", c3), ("stage4", c4)):
                self.cbam[name] = CBAM(ch, reduction)

        self.vit_config = config.vit
        if self.vit_config is not None:
            self.vit_before_stage4 = ImprovedViTBlock(c3, self.vit_config, act_factory)  # on (B, 232, H/16, W/16)
            self.vit_after_stage4 = ImprovedViTBlock(c4, self.vit_config, act_factory)  # on (B, 464, H/32, W/32)
        else:
            self.vit_before_stage4 = self.vit_after_stage4 = None

        skip_features = (in_chans - (2 if config.coords else 0)) * config.skip**2
        self._build_head((c5 * config.grid**2 if config.pool == "grid" else c5) + skip_features)
        init_cnn_weights(self, act, act_slope)
        for name, m in self.named_modules():
            if name.startswith("vit_") and isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                nn.init.zeros_(m.bias)

    def _after(self, name: str, x: Tensor) -> Tensor:
        return self.cbam[name](x) if name in self.cbam else x

    def forward_features(self, x: Tensor) -> Tensor:
        """``(B, in_chans, H, W)`` -> pooled ``(B, 1024)`` (+ the linear path's ``in_chans * skip^2``)."""
        if self.config.skip:
            linear = F.adaptive_avg_pool2d(x, self.config.skip).flatten(1)  # (B, in_chans * skip^2)
            return torch.cat([self._deep_features(x), linear], dim=1)
        return self._deep_features(x)

    def _deep_features(self, x: Tensor) -> Tensor:
        if self.config.coords:
            x = torch.cat([x, coordinate_maps(x)], dim=1)  # (B, C + 2, H, W)
        x = self.maxpool(self.conv1(x))  # (B, 24, H/4, W/4) (the small stem: H, W)
        x = self._after("stage2", self.stage2(x))  # (B, 116, H/8, W/8)
        x = self._after("stage3", self.stage3(x))  # (B, 232, H/16, W/16)
        if self.vit_before_stage4 is not None:
            x = self.vit_before_stage4(x)
        x = self._after("stage4", self.stage4(x))  # (B, 464, H/32, W/32)
        if self.vit_after_stage4 is not None:
            x = self.vit_after_stage4(x)
        x = self._after("conv5", self.conv5(x))  # (B, 1024, H/32, W/32)
        if self.config.pool == "grid":
            return F.adaptive_avg_pool2d(x, self.config.grid).flatten(1)  # (B, conv5 * grid^2)
        return x.mean(dim=(2, 3))  # (B, conv5)


def _factory(attention: str | None):
    """Registry factory: the flat ``create_model`` keywords -> ``ShuffleNetV2(ShuffleNetConfig(...))``."""

    def build(*, num_classes: int, in_chans: int, act: str, drop_rate: float, head: str, **options) -> ShuffleNetV2:
        config = ShuffleNetConfig.from_options(attention, act=act, **options)
        return ShuffleNetV2(config, num_classes=num_classes, in_chans=in_chans, drop_rate=drop_rate, head=head)

    return build


_VIT_OPTIONS = tuple(f"vit_{f.name}" for f in fields(ViTBlockConfig))
_COMMON = ("act_slope", "width", "stem", "pool", "grid", "conv5", "coords", "repeats", "skip")
register_model("shufflenet_v2", _factory(None), _COMMON)
register_model("shufflenet_v2_cbam", _factory("cbam"), (*_COMMON, "cbam_placement", "cbam_reduction"))
register_model("shufflenet_v2_vit", _factory("vit"), (*_COMMON, *_VIT_OPTIONS))
