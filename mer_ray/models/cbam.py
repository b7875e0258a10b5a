"""Convolutional Block Attention Module (Woo et al. 2018; the paper's Eq. 10-11)."""

from __future__ import annotations

import torch
from torch import Tensor, nn


class ChannelAttention(nn.Module):
    """Eq. 10: M_c(F) = sigmoid(MLP(AvgPool(F)) + MLP(MaxPool(F))), one MLP shared by both descriptors.

    The MLP is W1(ReLU(W0 .)) with a hidden width of C / reduction (at least 1); ReLU as Eq. 10 states.
    """

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        hidden = max(1, channels // reduction)
        self.mlp = nn.Sequential(
            nn.Conv2d(channels, hidden, 1),  # W0 (1x1 conv == linear on a (B, C, 1, 1) descriptor)
            nn.ReLU(inplace=True),
            nn.Conv2d(hidden, channels, 1),  # W1
        )

    def forward(self, x: Tensor) -> Tensor:
        """Return the channel attention map ``(B, C, 1, 1)`` of ``x`` ``(B, C, H, W)``."""
        b = x.shape[0]
        avg = x.mean(dim=(2, 3), keepdim=True)  # (B, C, 1, 1)
        mx = x.amax(dim=(2, 3), keepdim=True)  # (B, C, 1, 1)
        both = self.mlp(torch.cat([avg, mx], dim=0))  # (2B, C, 1, 1): one MLP call for both descriptors
        return torch.sigmoid(both[:b] + both[b:])


class SpatialAttention(nn.Module):
    """Eq. 11: M_s(F) = sigmoid(f7x7([AvgPool_c(F); MaxPool_c(F)])), pooling along the channel axis."""

    def __init__(self, kernel: int = 7) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 1, kernel, padding=kernel // 2, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        """Return the spatial attention map ``(B, 1, H, W)`` of ``x`` ``(B, C, H, W)``."""
        desc = torch.cat([x.mean(dim=1, keepdim=True), x.amax(dim=1, keepdim=True)], dim=1)  # (B, 2, H, W)
        return torch.sigmoid(self.conv(desc))


class CBAM(nn.Module):
    """Channel attention, then spatial attention, each multiplied onto the features (sequential, as in CBAM)."""

    def __init__(self, channels: int, reduction: int = 16, spatial_kernel: int = 7) -> None:
        super().__init__()
        self.channel = ChannelAttention(channels, reduction)
        self.spatial = SpatialAttention(spatial_kernel)

    def forward(self, x: Tensor) -> Tensor:
        """Refine ``x`` ``(B, C, H, W)``; the output has the same shape."""
        x = x * self.channel(x)
        return x * self.spatial(x)
