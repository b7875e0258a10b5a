"""DeiT-tiny (Touvron et al. 2021), the convolution-free Table 2 / Table 4 baseline.

Same layers and state-dict keys as timm's ``deit_tiny_patch16_224`` (except ``head`` -> ``classifier``):
patch 16, width 192, 12 layers, 3 heads, MLP 768, 5,717,416 parameters at 1000 classes. Inputs other than
224x224 (>= 64, ideally multiples of 16) interpolate the 14x14 position embeddings (bicubic), as timm does.
DeiT has no ReLU for the paper's LeakyReLU to replace: its MLP keeps GELU whatever ``act`` says (``act`` is
still validated). The pooled embedding is the final class token (width 192).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mer_ray.models._base import MERModel
from mer_ray.models._registry import register_model
from mer_ray.models.layers import KERAS_LEAKY_SLOPE, check_activation

PATCH, DIM, DEPTH, HEADS, MLP_RATIO = 16, 192, 12, 3, 4
TRAIN_GRID = 14  # 224 / 16: the grid the position embeddings are stored for


class Attention(nn.Module):
    """Multi-head self-attention with a fused qkv projection."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: Tensor) -> Tensor:
        """``(B, N, d)`` -> ``(B, N, d)``."""
        b, n, d = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)  # (3, B, h, N, dh)
        out = F.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2])  # (B, h, N, dh)
        return self.proj(out.transpose(1, 2).reshape(b, n, d))


class Mlp(nn.Module):
    """Linear -> GELU -> Linear."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: Tensor) -> Tensor:
        """``(B, N, d)`` -> ``(B, N, d)``."""
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    """Pre-norm transformer layer."""

    def __init__(self, dim: int, heads: int, mlp_ratio: int) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, dim * mlp_ratio)

    def forward(self, x: Tensor) -> Tensor:
        """``(B, N, d)`` -> ``(B, N, d)``."""
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class PatchEmbed(nn.Module):
    """Non-overlapping 16x16 patches projected to ``dim`` by a strided conv."""

    def __init__(self, in_chans: int, dim: int, patch: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(in_chans, dim, patch, patch)

    def forward(self, x: Tensor) -> tuple[Tensor, tuple[int, int]]:
        """``(B, C, H, W)`` -> tokens ``(B, N, d)`` and the patch grid (gh, gw)."""
        x = self.proj(x)  # (B, d, gh, gw)
        return x.flatten(2).transpose(1, 2), (x.shape[2], x.shape[3])


class DeiTTiny(MERModel):
    """DeiT-tiny/16. Arguments as `ShuffleNetV2` (no attention options; ``act`` has no effect, see module doc)."""

    stem_conv_key = "patch_embed.proj.weight"

    def __init__(self, num_classes: int = 3, in_chans: int = 3, *, act: str = "leaky_relu",
                 act_slope: float = KERAS_LEAKY_SLOPE, drop_rate: float = 0.5, head: str = "softmax") -> None:
        super().__init__(num_classes=num_classes, in_chans=in_chans, drop_rate=drop_rate, head=head)
        check_activation(act, act_slope)
        self.act, self.act_slope = "gelu", act_slope
        self.patch_embed = PatchEmbed(in_chans, DIM, PATCH)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, DIM))
        self.pos_embed = nn.Parameter(torch.zeros(1, 1 + TRAIN_GRID * TRAIN_GRID, DIM))
        self.blocks = nn.Sequential(*[Block(DIM, HEADS, MLP_RATIO) for _ in range(DEPTH)])
        self.norm = nn.LayerNorm(DIM, eps=1e-6)
        self._build_head(DIM)
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        nn.init.normal_(self.cls_token, std=1e-6)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                nn.init.zeros_(m.bias)

    def _pos_embed(self, grid: tuple[int, int]) -> Tensor:
        """Position embeddings ``(1, 1 + gh * gw, d)`` for a patch grid, interpolated from 14x14 if needed."""
        if grid == (TRAIN_GRID, TRAIN_GRID):
            return self.pos_embed
        cls_pos, patch_pos = self.pos_embed[:, :1], self.pos_embed[:, 1:]
        patch_pos = patch_pos.reshape(1, TRAIN_GRID, TRAIN_GRID, DIM).permute(0, 3, 1, 2)  # (1, d, 14, 14)
        patch_pos = F.interpolate(patch_pos, size=grid, mode="bicubic", align_corners=False)
        return torch.cat([cls_pos, patch_pos.flatten(2).transpose(1, 2)], dim=1)

    def forward_features(self, x: Tensor) -> Tensor:
        """``(B, in_chans, H, W)`` -> final class token ``(B, 192)``."""
        tokens, grid = self.patch_embed(x)  # (B, N, d)
        cls = self.cls_token.expand(tokens.shape[0], -1, -1)
        tokens = torch.cat([cls, tokens], dim=1) + self._pos_embed(grid)  # (B, 1 + N, d)
        return self.norm(self.blocks(tokens))[:, 0]


register_model("deit_tiny", DeiTTiny, ("act_slope",))
