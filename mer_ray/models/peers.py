"""Shallow optical-flow networks of the honest peers, for the paper's Table 3 on the same LOSO folds.

Written from the publications and checked against the public code (christy1206/STSTNet, tvaranka/meb), with
PyTorch's default initialisation as in that code (ReLU in the published recipes; ``act`` is an option); every
net takes (u, v, optical strain) maps of the onset -> apex flow at the published size and follows `MERModel`
(``forward_features`` -> dropout -> ``classifier``). Adaptive pools after the published ones keep the classifier
size fixed at other input sizes and are the identity at the published size.

- ``ststnet`` (Liong et al. 2019, STSTNet): three parallel 3x3 conv streams with 3, 5 and 8 filters (padding 2),
  each ReLU -> BatchNorm -> 3x3 max-pool stride 3 (padding 1) -> dropout 0.5; concatenated (16 maps); 2x2
  average pool; one dense layer. 28x28 input: 30 -> 10 -> 5, 5 * 5 * 16 = 400 features.
- ``off_apexnet`` (Gan et al. 2019, OFF-ApexNet): two streams, one on u and one on v, each conv 5x5 (6) ->
  max-pool 2 -> conv 5x5 (16) -> max-pool 2; concatenated (2 * 7 * 7 * 16 = 1568 at 28 px); dense 1024 ->
  dense 1024 -> classifier, ReLU and dropout 0.5 between. Strain is not used (as in the publication).
- ``sssnet`` (Varanka et al. 2021, SSSNet, meb's reference implementation): conv 5x5 (32) -> max-pool 3 ->
  BatchNorm -> dropout; conv 3x3 (64) -> max-pool 2 -> BatchNorm -> dropout; dense 256 -> classifier. 64 px
  input: 60 -> 20 -> 18 -> 9, 9 * 9 * 64 features into the dense layer.
"""

from __future__ import annotations

from functools import partial

import torch
from torch import Tensor, nn

from mer_ray.models._base import MERModel
from mer_ray.models._registry import register_model
from mer_ray.models.layers import KERAS_LEAKY_SLOPE, check_activation, make_act


class STSTNet(MERModel):
    """Shallow triple-stream network on 28x28 (u, v, strain) maps."""

    stem_conv_key = ""
    min_input_size = 16
    default_input_size = 28

    def __init__(self, num_classes: int = 3, in_chans: int = 3, *, act: str = "relu",
                 act_slope: float = KERAS_LEAKY_SLOPE, drop_rate: float = 0.0, head: str = "softmax",
                 stream_dropout: float = 0.5) -> None:
        super().__init__(num_classes=num_classes, in_chans=in_chans, drop_rate=drop_rate, head=head)
        check_activation(act, act_slope)
        self.streams = nn.ModuleList(
            nn.Sequential(nn.Conv2d(in_chans, width, 3, padding=2), make_act(act, act_slope), nn.BatchNorm2d(width),
                          nn.MaxPool2d(3, stride=3, padding=1), nn.Dropout(stream_dropout))
            for width in (3, 5, 8)
        )
        self.pool = nn.Sequential(nn.AvgPool2d(2, stride=2), nn.AdaptiveAvgPool2d(5))  # (B, 16, 5, 5) at 28 px
        self._build_head(16 * 5 * 5)

    def forward_features(self, x: Tensor) -> Tensor:
        """``(B, C, 28, 28)`` -> ``(B, 400)``."""
        x = torch.cat([stream(x) for stream in self.streams], dim=1)  # (B, 16, 10, 10)
        return self.pool(x).flatten(1)


class OffApexNet(MERModel):
    """Two-stream (u, v) network on 28x28 maps."""

    stem_conv_key = ""
    min_input_size = 16
    default_input_size = 28

    def __init__(self, num_classes: int = 3, in_chans: int = 3, *, act: str = "relu",
                 act_slope: float = KERAS_LEAKY_SLOPE, drop_rate: float = 0.5, head: str = "softmax") -> None:
        super().__init__(num_classes=num_classes, in_chans=in_chans, drop_rate=drop_rate, head=head)
        check_activation(act, act_slope)
        act_factory = partial(make_act, act, act_slope)

        def stream() -> nn.Sequential:
            return nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), act_factory(), nn.MaxPool2d(2),
                                 nn.Conv2d(6, 16, 5, padding=2), act_factory(), nn.MaxPool2d(2),
                                 nn.AdaptiveAvgPool2d(7))

        self.stream_u, self.stream_v = stream(), stream()
        self.dense = nn.Sequential(nn.Linear(2 * 16 * 7 * 7, 1024), act_factory(), nn.Dropout(drop_rate),
                                   nn.Linear(1024, 1024), act_factory())
        self._build_head(1024)

    def forward_features(self, x: Tensor) -> Tensor:
        """``(B, C, 28, 28)`` -> ``(B, 1024)``: channel 0 (u) and 1 (v); a 1-channel input feeds both streams."""
        u = self.stream_u(x[:, 0:1]).flatten(1)  # (B, 784)
        v = self.stream_v(x[:, min(1, x.shape[1] - 1) :][:, :1]).flatten(1)
        return self.dense(torch.cat([u, v], dim=1))


class SSSNet(MERModel):
    """Shallow single-stream network on 64x64 (u, v, strain) maps."""

    stem_conv_key = "conv1.weight"
    min_input_size = 32
    default_input_size = 64

    def __init__(self, num_classes: int = 3, in_chans: int = 3, *, act: str = "relu",
                 act_slope: float = KERAS_LEAKY_SLOPE, drop_rate: float = 0.5, head: str = "softmax") -> None:
        super().__init__(num_classes=num_classes, in_chans=in_chans, drop_rate=drop_rate, head=head)
        check_activation(act, act_slope)
        self.conv1 = nn.Conv2d(in_chans, 32, 5)
        self.block1 = nn.Sequential(make_act(act, act_slope), nn.MaxPool2d(3, stride=3), nn.BatchNorm2d(32),
                                    nn.Dropout2d(drop_rate))
        self.block2 = nn.Sequential(nn.Conv2d(32, 64, 3), make_act(act, act_slope), nn.MaxPool2d(2),
                                    nn.BatchNorm2d(64), nn.Dropout2d(drop_rate), nn.AdaptiveAvgPool2d(9))
        self.dense = nn.Sequential(nn.Linear(9 * 9 * 64, 256), make_act(act, act_slope))
        self._build_head(256)

    def forward_features(self, x: Tensor) -> Tensor:
        """``(B, C, 64, 64)`` -> ``(B, 256)``."""
        x = self.block2(self.block1(self.conv1(x)))  # (B, 64, 9, 9)
        return self.dense(x.flatten(1))


register_model("ststnet", STSTNet, ("act_slope", "stream_dropout"))
register_model("off_apexnet", OffApexNet, ("act_slope",))
register_model("sssnet", SSSNet, ("act_slope",))
