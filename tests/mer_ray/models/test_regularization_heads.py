"""Keras-style L2 on kernels only; the softmax and SVM (Eq. 17) losses; scores."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from mer_ray.models import create_model, keras_l2_penalty, loss_for_head, scores_from_logits


def test_l2_counts_conv_and_linear_kernels_only():
    model = nn.Sequential(nn.Conv2d(2, 3, 3), nn.BatchNorm2d(3), nn.Flatten(), nn.LayerNorm(3), nn.Linear(3, 2))
    for p in model.parameters():
        nn.init.constant_(p, 1.0)
    # conv kernel 3*2*3*3 = 54 ones, linear kernel 2*3 = 6 ones; biases, BN and LN parameters excluded.
    assert keras_l2_penalty(model, scale=0.2).item() == pytest.approx(0.2 * (54 + 6))
    assert keras_l2_penalty(model).item() == pytest.approx(0.2 * 60)


@pytest.mark.parametrize("name", ["shufflenet_v2_vit", "deit_tiny"])
def test_l2_gradients_reach_kernels_not_norms_or_embeddings(name):
    model = create_model(name)
    keras_l2_penalty(model).backward()
    for pname, p in model.named_parameters():
        is_kernel = p.dim() >= 2 and pname not in ("pos_embed", "cls_token")
        if is_kernel:
            assert p.grad is not None and torch.allclose(p.grad, 0.4 * p.detach()), pname  # d(0.2 w^2)/dw
        else:
            assert p.grad is None, pname


def test_l2_scale_validated():
    with pytest.raises(ValueError, match=r"scale must be a number >= 0, got -1"):
        keras_l2_penalty(nn.Linear(2, 2), scale=-1)


def test_softmax_loss_is_cross_entropy():
    logits, y = torch.randn(5, 3), torch.tensor([0, 1, 2, 1, 0])
    assert torch.allclose(loss_for_head("softmax")(logits, y), F.cross_entropy(logits, y))


@pytest.mark.parametrize("p", [1, 2])
def test_svm_loss_is_eq17(p):
    logits, y = torch.randn(6, 3), torch.tensor([0, 1, 2, 2, 1, 0])
    expected = []
    for x, t in zip(logits, y):  # Eq. 17: sum over wrong classes of max(0, 1 - x_y + x_i)^p, / number of classes
        terms = [torch.clamp(1 - x[t] + x[i], min=0) ** p for i in range(3) if i != t]
        expected.append(sum(terms) / 3)
    assert torch.allclose(loss_for_head("svm", p=p)(logits, y), torch.stack(expected).mean())


def test_head_errors():
    with pytest.raises(ValueError) as err:
        loss_for_head("hinge")
    assert str(err.value) == "head_kind must be one of ['softmax', 'svm'], got 'hinge'"
    with pytest.raises(ValueError) as err:
        loss_for_head("svm", p=3)
    assert str(err.value) == "p must be one of [1, 2], got 3"


@pytest.mark.parametrize("head", ["softmax", "svm"])
def test_scores(head):
    logits = torch.randn(4, 3)
    scores = scores_from_logits(logits, head)
    assert torch.allclose(scores.sum(1), torch.ones(4))
    assert torch.equal(scores.argmax(1), logits.argmax(1))
