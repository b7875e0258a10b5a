"""Keras-style L2 kernel regularisation (the paper's ``l2(0.2)`` on conv and dense layers)."""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn.modules.conv import _ConvNd


def kernel_weights(model: nn.Module) -> list[Tensor]:
    """The kernels of every convolution (including depthwise and 1x1) and linear layer of ``model``.

    Biases, normalisation parameters (BatchNorm, LayerNorm), position embeddings and class tokens are not
    kernels of such layers and are left out, as a Keras ``kernel_regularizer`` would.
    """
    return [m.weight for m in model.modules() if isinstance(m, _ConvNd | nn.Linear) and m.weight is not None]


def keras_l2_penalty(model: nn.Module, scale: float = 0.2) -> Tensor:
    """``scale * sum(w ** 2)`` over `kernel_weights` (Keras ``l2(scale)``; not AdamW's decoupled decay).

    Returns:
        A scalar tensor on the model's device, differentiable w.r.t. the kernels (0 for a kernel-less model).
    """
    if not isinstance(scale, int | float) or isinstance(scale, bool) or scale < 0:
        raise ValueError(f"scale must be a number >= 0, got {scale!r}")
    weights = kernel_weights(model)
    if not weights:
        return torch.zeros(())
    return scale * torch.stack([w.pow(2).sum() for w in weights]).sum()
