"""The paper's improved lightweight ViT block (Eq. 12-15, Fig. 4-5).

A MobileViT-style block (local n x n conv -> 1x1 conv to d -> unfold into P x N -> transformer -> fold -> 1x1
conv back to C -> concatenate with the input -> n x n fusion conv) whose transformer uses the MoCoViT
simplifications the paper adopts: one shared projection for queries, keys and values (Q = K = V, Eq. 13-14)
and Ghost modules instead of linear layers.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mer_ray.models.ghost import GhostLinear
from mer_ray.models.layers import ConvBNAct, ceil_to, check_choice, check_number

VIT_CONVS = ("standard", "separable")


@dataclass(frozen=True)
class ViTBlockConfig:
    """Hyperparameters of one improved ViT block (the paper gives none of the numbers below)."""

    dim: int = 144  # d, transformer width: MobileViT-S's first block width; keeps the tokens cheap at C=232/464
    depth: int = 2  # transformer layers per block: MobileViT's smallest depth
    patch: int = 2  # h = w: MobileViT's patch; the paper only requires h, w <= n
    kernel: int = 3  # n, the local and fusion convolution size (MobileViT's n)
    heads: int = 1  # Eq. 14 is single-head: Softmax(V V^T / sqrt(d_v)) V
    mlp_ratio: float = 2.0  # FFN hidden width / d (MobileViT's 2x)
    # "separable" (depthwise n x n + 1x1) is the default: the paper reports 1.53 M parameters and a lightweight
    # model, which full n x n convs at 232 / 464 channels (7.3 M weights alone) cannot give; "standard" = the text
    conv: str = "separable"

    def validate(self) -> None:
        """Raise ValueError for out-of-range values."""
        check_number("vit_dim", self.dim, low=1, integer=True)
        check_number("vit_depth", self.depth, low=1, integer=True)
        check_number("vit_patch", self.patch, low=1, integer=True)
        check_number("vit_kernel", self.kernel, low=1, integer=True)
        if self.kernel % 2 == 0:
            raise ValueError(f"vit_kernel must be odd (same padding), got {self.kernel!r}")
        if self.patch > self.kernel:
            raise ValueError(f"vit_patch must be <= vit_kernel (the paper's h, w <= n), got {self.patch!r} "
                             f"with vit_kernel={self.kernel!r}")
        check_number("vit_heads", self.heads, low=1, integer=True)
        if self.dim % self.heads:
            raise ValueError(f"vit_dim must be divisible by vit_heads={self.heads}, got {self.dim!r}")
        check_number("vit_mlp_ratio", self.mlp_ratio, low=0.0, low_inclusive=False)
        check_choice("vit_conv", self.conv, VIT_CONVS)


class SharedQKVAttention(nn.Module):
    """Eq. 13-14: V = Ghost(X); Q = K = V; out = Ghost_proj(Softmax(V V^T / sqrt(d_v)) V)."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.value = GhostLinear(dim, dim)  # the single shared projection f^v = f^k = f^q
        self.proj = GhostLinear(dim, dim)

    def forward(self, x: Tensor, grid: tuple[int, int]) -> Tensor:
        """Attend over the N tokens of ``x`` ``(B', N, d)``; returns ``(B', N, d)``."""
        b, n, d = x.shape
        v = self.value(x, grid)  # (B', N, d)
        v = v.view(b, n, self.heads, d // self.heads).transpose(1, 2)  # (B', heads, N, d_v)
        out = F.scaled_dot_product_attention(v, v, v)  # softmax(V V^T / sqrt(d_v)) V
        return self.proj(out.transpose(1, 2).reshape(b, n, d), grid)


class GhostTransformerLayer(nn.Module):
    """Pre-norm transformer layer: shared-QKV attention and a Ghost-module MLP, each with a residual."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float, act: nn.Module) -> None:
        super().__init__()
        hidden = max(1, round(dim * mlp_ratio))
        self.norm1 = nn.LayerNorm(dim)
        self.attn = SharedQKVAttention(dim, heads)
        self.norm2 = nn.LayerNorm(dim)
        self.fc1 = GhostLinear(dim, hidden)
        self.act = act
        self.fc2 = GhostLinear(hidden, dim)

    def forward(self, x: Tensor, grid: tuple[int, int]) -> Tensor:
        """``x`` ``(B', N, d)`` -> ``(B', N, d)``."""
        x = x + self.attn(self.norm1(x), grid)
        return x + self.fc2(self.act(self.fc1(self.norm2(x), grid)), grid)


def unfold_patches(x: Tensor, patch: int) -> tuple[Tensor, tuple[int, int]]:
    """``(B, d, H, W)`` -> ``(B * P, N, d)`` with P = patch^2 pixel positions and N = (H/h)(W/w) patches.

    Row ``b * P + p`` holds, for pixel position p inside a patch, that pixel of every patch (Eq. 15's X_U(p)).
    """
    b, d, h, w = x.shape
    gh, gw = h // patch, w // patch
    t = x.reshape(b, d, gh, patch, gw, patch).permute(0, 3, 5, 2, 4, 1)  # (B, ph, pw, gh, gw, d)
    return t.reshape(b * patch * patch, gh * gw, d), (gh, gw)


def fold_patches(t: Tensor, batch: int, patch: int, grid: tuple[int, int]) -> Tensor:
    """Inverse of `unfold_patches`: ``(B * P, N, d)`` -> ``(B, d, H, W)``."""
    gh, gw = grid
    d = t.shape[-1]
    x = t.reshape(batch, patch, patch, gh, gw, d).permute(0, 5, 3, 1, 4, 2)  # (B, d, gh, ph, gw, pw)
    return x.reshape(batch, d, gh * patch, gw * patch)


class ImprovedViTBlock(nn.Module):
    """The paper's improved ViT block on a ``(B, C, H, W)`` feature map; output has the same shape.

    When H or W is not a multiple of the patch size the d-channel map is resized (bilinear) to the next
    multiple for the transformer and back afterwards, as MobileViT does (e.g. 7x7 -> 8x8 with 2x2 patches).
    """

    def __init__(self, channels: int, cfg: ViTBlockConfig, act_factory) -> None:
        super().__init__()
        cfg.validate()
        self.patch = cfg.patch
        n, d = cfg.kernel, cfg.dim
        if cfg.conv == "standard":
            self.local = ConvBNAct(channels, channels, n, act=act_factory())  # n x n: local spatial encoding
        else:
            self.local = ConvBNAct(channels, channels, n, groups=channels, act=act_factory())
        self.proj_in = nn.Conv2d(channels, d, 1, bias=False)  # point conv to d
        self.layers = nn.ModuleList(
            GhostTransformerLayer(d, cfg.heads, cfg.mlp_ratio, act_factory()) for _ in range(cfg.depth)
        )
        self.norm = nn.LayerNorm(d)
        self.proj_out = ConvBNAct(d, channels, 1, act=act_factory())  # point conv back to C
        if cfg.conv == "standard":
            self.fusion = ConvBNAct(2 * channels, channels, n, act=act_factory())  # n x n local/global fusion
        else:
            self.fusion = nn.Sequential(
                ConvBNAct(2 * channels, 2 * channels, n, groups=2 * channels),
                ConvBNAct(2 * channels, channels, 1, act=act_factory()),
            )

    def forward(self, x: Tensor) -> Tensor:
        """``x`` ``(B, C, H, W)`` -> ``(B, C, H, W)``."""
        b, _, h, w = x.shape
        y = self.proj_in(self.local(x))  # (B, d, H, W)
        hp, wp = ceil_to(h, self.patch), ceil_to(w, self.patch)
        resized = (hp, wp) != (h, w)
        if resized:
            y = F.interpolate(y, size=(hp, wp), mode="bilinear", align_corners=False)
        tokens, grid = unfold_patches(y, self.patch)  # (B * P, N, d)
        for layer in self.layers:
            tokens = layer(tokens, grid)
        y = fold_patches(self.norm(tokens), b, self.patch, grid)  # (B, d, hp, wp)
        if resized:
            y = F.interpolate(y, size=(h, w), mode="bilinear", align_corners=False)
        y = self.proj_out(y)  # (B, C, H, W)
        return self.fusion(torch.cat([x, y], dim=1))  # (B, 2C, H, W) -> (B, C, H, W)
