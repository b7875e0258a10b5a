"""Building blocks against the paper's equations and reference formulations."""

from __future__ import annotations

import math

import torch

from mer_ray.models.cbam import CBAM
from mer_ray.models.ghost import GhostLinear
from mer_ray.models.shufflenet import shuffle_concat
from mer_ray.models.vit_block import SharedQKVAttention, fold_patches, unfold_patches


def test_shuffle_concat_equals_concat_then_channel_shuffle():
    a, b = torch.randn(2, 6, 4, 5), torch.randn(2, 6, 4, 5)
    x = torch.cat([a, b], dim=1)
    reference = x.view(2, 2, 6, 4, 5).transpose(1, 2).reshape(2, 12, 4, 5)  # torchvision channel_shuffle
    assert torch.equal(shuffle_concat(a, b), reference)


def test_unfold_groups_same_pixel_of_every_patch_and_fold_inverts():
    x = torch.randn(2, 5, 6, 4)  # (B, d, H, W), patch 2 -> grid 3 x 2, P = 4
    tokens, grid = unfold_patches(x, 2)
    assert tokens.shape == (2 * 4, 6, 5) and grid == (3, 2)
    b, i, j, gi, gj = 1, 1, 0, 2, 1  # pixel (i, j) of patch (gi, gj) in sample b
    assert torch.equal(tokens[b * 4 + i * 2 + j, gi * 2 + gj], x[b, :, gi * 2 + i, gj * 2 + j])
    assert torch.equal(fold_patches(tokens, 2, 2, grid), x)


def test_shared_attention_is_eq14():
    torch.manual_seed(0)
    attn = SharedQKVAttention(dim=8, heads=1)
    x, grid = torch.randn(3, 6, 8), (2, 3)
    v = attn.value(x, grid)
    expected = attn.proj(torch.softmax(v @ v.transpose(1, 2) / math.sqrt(8), dim=-1) @ v, grid)
    torch.testing.assert_close(attn(x, grid), expected)


def test_ghost_linear_shapes_and_parameters():
    g = GhostLinear(10, 7)  # 4 intrinsic features (ceil(7 / 2)), 4 ghosts, cut to 7
    assert g(torch.randn(2, 6, 10), (2, 3)).shape == (2, 6, 7)
    assert sum(p.numel() for p in g.parameters()) == (10 * 4 + 4) + (4 * 9 + 4)


def test_cbam_matches_eq10_eq11():
    torch.manual_seed(0)
    cbam = CBAM(32, reduction=16)
    x = torch.randn(2, 32, 5, 5)
    w0, b0 = cbam.channel.mlp[0].weight.flatten(1), cbam.channel.mlp[0].bias
    w1, b1 = cbam.channel.mlp[2].weight.flatten(1), cbam.channel.mlp[2].bias

    def mlp(f):  # (B, C)
        return torch.relu(f @ w0.T + b0) @ w1.T + b1

    mc = torch.sigmoid(mlp(x.mean((2, 3))) + mlp(x.amax((2, 3))))[:, :, None, None]
    f1 = x * mc
    ms = torch.sigmoid(torch.nn.functional.conv2d(
        torch.cat([f1.mean(1, keepdim=True), f1.amax(1, keepdim=True)], 1), cbam.spatial.conv.weight, padding=3))
    torch.testing.assert_close(cbam(x), f1 * ms)
