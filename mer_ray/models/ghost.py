"""Ghost module (Han et al., GhostNet 2020) used in place of a linear layer on a grid of tokens."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


class GhostLinear(nn.Module):
    """A Ghost module standing in for ``nn.Linear(in_features, out_features)`` on tokens laid out on a grid.

    A primary linear map produces ``ceil(out / ratio)`` intrinsic features per token; a cheap depthwise
    ``kernel x kernel`` convolution over the token grid derives the remaining "ghost" features from them; the
    two are concatenated (and cut to ``out_features``). As a drop-in for a linear layer it has biases and no
    BatchNorm or activation (GhostNet's conv version has both). In the ViT block the tokens of one pixel
    position p form the (H/h, W/w) grid of patches, so the cheap operation mixes neighbouring patches.

    Args:
        in_features: Token width in.
        out_features: Token width out.
        ratio: Output / intrinsic features (GhostNet's s; 2 halves the primary map's cost).
        kernel: Size of the cheap depthwise convolution (GhostNet's d).
    """

    def __init__(self, in_features: int, out_features: int, ratio: int = 2, kernel: int = 3) -> None:
        super().__init__()
        self.out_features = out_features
        self.intrinsic = math.ceil(out_features / ratio)
        ghosts = self.intrinsic * (ratio - 1)
        self.primary = nn.Linear(in_features, self.intrinsic)
        self.cheap = nn.Conv2d(self.intrinsic, ghosts, kernel, padding=kernel // 2, groups=self.intrinsic)

    def forward(self, x: Tensor, grid: tuple[int, int]) -> Tensor:
        """Map tokens ``x`` ``(B', N, in)`` on a ``grid`` (gh, gw) with gh * gw == N to ``(B', N, out)``."""
        b, n, _ = x.shape
        gh, gw = grid
        y = self.primary(x)  # (B', N, m)
        # View as an NCHW tensor with channels-last strides (no copy); the depthwise conv keeps that layout.
        fmap = y.view(b, gh, gw, self.intrinsic).permute(0, 3, 1, 2)  # (B', m, gh, gw)
        ghost = self.cheap(fmap).permute(0, 2, 3, 1).reshape(b, n, -1)  # (B', N, m * (ratio - 1))
        out = torch.cat([y, ghost], dim=-1)  # (B', N, m * ratio)
        return out if out.shape[-1] == self.out_features else out[..., : self.out_features]
