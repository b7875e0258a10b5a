"""load_backbone_state: classifier skipped, first conv adapted to a new in_chans, wrapper prefixes stripped."""

from __future__ import annotations

import pytest
import torch

from mer_ray.models import adapt_input_conv, create_model


@pytest.mark.parametrize("name", ["shufflenet_v2_vit", "mobilenet_v2", "deit_tiny"])
def test_flow_weights_into_grayscale_model(name):
    torch.manual_seed(0)
    flow = create_model(name, num_classes=3, in_chans=3).eval()
    with torch.no_grad():  # make BN statistics non-trivial so a missed buffer would show
        for m in flow.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
    gray = create_model(name, num_classes=5, in_chans=1).eval()
    classifier_before = gray.classifier.weight.detach().clone()

    loaded = gray.load_backbone_state(flow.state_dict())

    assert not any(k.startswith("classifier.") for k in loaded)
    assert gray.stem_conv_key in loaded
    assert set(loaded) == {k for k in flow.state_dict() if not k.startswith("classifier.")}
    assert torch.equal(gray.classifier.weight, classifier_before)
    x = torch.randn(2, 1, 64, 64)
    with torch.no_grad():  # a grayscale face is the replicated 3-channel input for the flow model
        torch.testing.assert_close(gray.forward_features(x), flow.forward_features(x.repeat(1, 3, 1, 1)),
                                   rtol=1e-4, atol=1e-4)


def test_prefixes_stripped_and_mismatches_skipped():
    src = create_model("shufflenet_v2")
    state = {f"_orig_mod.{k}": v for k, v in src.state_dict().items()}
    state["_orig_mod.conv5.0.weight"] = torch.zeros(7, 7, 1, 1)  # wrong shape: skipped, not an error
    dst = create_model("shufflenet_v2_cbam")
    loaded = dst.load_backbone_state(state)
    assert "conv1.0.weight" in loaded and "conv5.0.weight" not in loaded
    assert torch.equal(dst.conv1[0].weight, src.conv1[0].weight)


def test_unrelated_state_dict_raises():
    with pytest.raises(ValueError, match="none of the 2 keys matches ShuffleNetV2"):
        create_model("shufflenet_v2").load_backbone_state({"foo.weight": torch.zeros(1), "bar": torch.zeros(1)})


def test_adapt_input_conv_preserves_replicated_response():
    w = torch.randn(4, 3, 3, 3)
    assert torch.allclose(adapt_input_conv(w, 1), w.sum(1, keepdim=True))
    one = torch.randn(4, 1, 3, 3)
    assert torch.allclose(adapt_input_conv(one, 3), one.repeat(1, 3, 1, 1) / 3)
