"""Every registered model: forward/backward on a tiny CPU input, shapes, gradients, published parameter counts."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from mer_ray.models import create_model, list_models, model_options
from mer_ray.models.layers import KERAS_LEAKY_SLOPE

EXPECTED_MODELS = ["deit_tiny", "mobilenet_v2", "off_apexnet", "resnet50", "shufflenet_v2", "shufflenet_v2_cbam",
                   "shufflenet_v2_vit", "sssnet", "ststnet"]
NUM_FEATURES = {"shufflenet_v2": 1024, "shufflenet_v2_cbam": 1024, "shufflenet_v2_vit": 1024,
                "mobilenet_v2": 1280, "resnet50": 2048, "deit_tiny": 192, "ststnet": 400, "off_apexnet": 1024,
                "sssnet": 256}
# Published parameter counts at 1000 classes (torchvision / timm model cards) and the 3-class figure.
PUBLISHED_PARAMS = {
    ("shufflenet_v2", 1000): 2_278_604,
    ("shufflenet_v2", 3): 1_256_679,
    ("mobilenet_v2", 1000): 3_504_872,
    ("resnet50", 1000): 25_557_032,
    ("deit_tiny", 1000): 5_717_416,
}
# Registered models plus the non-default attention variants, each run through forward and backward.
VARIANTS = [(name, {}) for name in EXPECTED_MODELS] + [
    ("shufflenet_v2_cbam", {"cbam_placement": "stage4"}),
    ("shufflenet_v2_cbam", {"cbam_placement": "stages"}),
    ("shufflenet_v2_cbam", {"cbam_placement": "units"}),
    ("shufflenet_v2_vit", {"vit_conv": "standard"}),
    ("shufflenet_v2_vit", {"vit_heads": 4, "vit_depth": 1}),
    ("shufflenet_v2", {"width": 0.5, "stem": "small"}),
    ("shufflenet_v2_cbam", {"width": 0.5, "stem": "small"}),
    ("shufflenet_v2_vit", {"width": 1.5}),
]
LIGHT = ["shufflenet_v2", "shufflenet_v2_cbam", "shufflenet_v2_vit", "mobilenet_v2"]


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_registry_names():
    assert list_models() == EXPECTED_MODELS


@pytest.mark.parametrize("name,options", VARIANTS, ids=lambda v: str(v) if isinstance(v, str) else repr(v))
def test_forward_backward(name, options):
    torch.manual_seed(0)
    model = create_model(name, num_classes=3, **options).train()
    x = torch.randn(2, 3, 64, 64)
    logits = model(x)
    assert logits.shape == (2, 3)
    assert torch.isfinite(logits).all()
    logits.logsumexp(dim=1).sum().backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None]
    assert not missing, f"no gradient for {missing[:5]}"
    zero = [n for n, p in model.named_parameters() if not p.grad.abs().sum() > 0]
    assert not zero, f"all-zero gradient for {zero[:5]}"
    assert all(torch.isfinite(p.grad).all() for p in model.parameters())


@pytest.mark.parametrize("name,num_classes", sorted(PUBLISHED_PARAMS))
def test_published_parameter_counts(name, num_classes):
    for act in ("relu", "leaky_relu"):  # activations carry no parameters
        model = create_model(name, num_classes=num_classes, act=act)
        assert n_params(model) == PUBLISHED_PARAMS[(name, num_classes)]


def test_cbam_adds_the_papers_parameter_count():
    # Eq. 10-11 with the default placement (conv5, C = 1024, r = 16): shared MLP C -> C/r -> C with biases,
    # plus one 7x7 conv from 2 maps to 1 without bias.
    c, hidden = 1024, 1024 // 16
    expected = (c * hidden + hidden) + (hidden * c + c) + 2 * 7 * 7
    base = n_params(create_model("shufflenet_v2"))
    assert n_params(create_model("shufflenet_v2_cbam")) - base == expected


@pytest.mark.parametrize("name", EXPECTED_MODELS)
def test_features_sizes_and_grayscale(name):
    model = create_model(name, in_chans=1).eval()
    assert model.num_features == NUM_FEATURES[name]
    with torch.no_grad():
        for size in (64, 96):
            x = torch.randn(2, 1, size, size)
            assert model(x).shape == (2, 3)
            assert model.forward_features(x).shape == (2, NUM_FEATURES[name])


@pytest.mark.parametrize("name", LIGHT)
def test_default_input_size(name):
    model = create_model(name).eval()
    with torch.no_grad():
        assert model(torch.randn(1, 3, 224, 224)).shape == (1, 3)


@pytest.mark.parametrize("name", EXPECTED_MODELS)
def test_head_dropout_and_classifier(name):
    model = create_model(name, num_classes=3)
    assert isinstance(model.head_drop, nn.Dropout) and model.head_drop.p == 0.5
    assert model.head_kind == "softmax"
    assert isinstance(model.classifier, nn.Linear)
    assert (model.classifier.in_features, model.classifier.out_features) == (NUM_FEATURES[name], 3)
    assert model(torch.randn(2, 3, 64, 64)).shape == (2, 3)
    svm = create_model(name, head="svm", drop_rate=0.2)
    assert svm.head_kind == "svm" and svm.head_drop.p == 0.2


@pytest.mark.parametrize("name", [n for n in EXPECTED_MODELS if n != "deit_tiny"])
def test_activation_choice_changes_modules(name):
    def count(model, kind):
        return sum(isinstance(m, kind) for m in model.modules())

    leaky = create_model(name)
    relu = create_model(name, act="relu")
    assert count(leaky, nn.LeakyReLU) > 0 and count(relu, nn.LeakyReLU) == 0
    assert count(relu, nn.ReLU | nn.ReLU6) >= count(leaky, nn.LeakyReLU)
    slopes = {m.negative_slope for m in leaky.modules() if isinstance(m, nn.LeakyReLU)}
    assert slopes == {KERAS_LEAKY_SLOPE} == {0.3}
    custom = create_model(name, act_slope=0.01)
    assert {m.negative_slope for m in custom.modules() if isinstance(m, nn.LeakyReLU)} == {0.01}


def test_deit_keeps_gelu():
    model = create_model("deit_tiny", act="relu")
    assert any(isinstance(m, nn.GELU) for m in model.modules())
    assert not any(isinstance(m, nn.ReLU | nn.LeakyReLU) for m in model.modules())


def test_embed_restores_mode():
    model = create_model("shufflenet_v2").train()
    emb = model.embed(torch.randn(3, 3, 64, 64))
    assert emb.shape == (3, 1024) and not emb.requires_grad
    assert model.training


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"name": "shufflenet"}, "unknown model 'shufflenet'; valid names: deit_tiny, mobilenet_v2, off_apexnet, "
                                 "resnet50, shufflenet_v2, shufflenet_v2_cbam, shufflenet_v2_vit, sssnet, ststnet"),
        ({"name": "resnet50", "act": "gelu"}, "act must be one of ['leaky_relu', 'relu'], got 'gelu'"),
        ({"name": "resnet50", "head": "svc"}, "head must be one of ['softmax', 'svm'], got 'svc'"),
        ({"name": "mobilenet_v2", "drop_rate": 1.5}, "drop_rate must be in [0.0, 1.0), got 1.5"),
        ({"name": "mobilenet_v2", "num_classes": 0}, "num_classes must be in [1, inf), got 0"),
        ({"name": "shufflenet_v2", "act_slope": -0.1}, "act_slope must be in [0.0, 1.0), got -0.1"),
        ({"name": "shufflenet_v2", "vit_dim": 64},
         "model 'shufflenet_v2': unknown options ['vit_dim']; valid options: ['act_slope', 'conv5', 'coords', "
         "'grid', 'pool', 'repeats', 'skip', 'stem', 'width']"),
        ({"name": "shufflenet_v2", "width": 0.75}, "width must be one of [0.5, 1.0, 1.5, 2.0], got 0.75"),
        ({"name": "shufflenet_v2_cbam", "cbam_placement": "stem"},
         "cbam_placement must be one of ['conv5', 'stage4', 'stages', 'units'], got 'stem'"),
        ({"name": "shufflenet_v2_vit", "vit_conv": "dw"},
         "vit_conv must be one of ['standard', 'separable'], got 'dw'"),
        ({"name": "shufflenet_v2_vit", "vit_dim": 100, "vit_heads": 3},
         "vit_dim must be divisible by vit_heads=3, got 100"),
        ({"name": "shufflenet_v2_vit", "vit_patch": 5},
         "vit_patch must be <= vit_kernel (the paper's h, w <= n), got 5 with vit_kernel=3"),
    ],
)
def test_error_messages(kwargs, message):
    with pytest.raises(ValueError) as err:
        create_model(**kwargs)
    assert str(err.value) == message


def test_model_options():
    assert model_options("shufflenet_v2_vit")[0] == "act_slope"
    assert "vit_dim" in model_options("shufflenet_v2_vit")
    assert "cbam_placement" in model_options("shufflenet_v2_cbam")


def test_published_half_width_parameter_count_and_small_stem_resolution():
    assert n_params(create_model("shufflenet_v2", num_classes=1000, width=0.5, act="relu")) == 1_366_792
    small = create_model("shufflenet_v2", width=0.5, stem="small").eval()
    with torch.no_grad():
        assert small.stage2(small.maxpool(small.conv1(torch.randn(1, 3, 32, 32)))).shape[-1] == 16


@pytest.mark.parametrize("name,size,features,params", [
    ("ststnet", 28, 400, 1_683),  # the official net: 3 + 5 + 8 3x3 convs, BN, 400 -> 3 dense
    # two streams of (5x5x1x6 + 6) + (5x5x6x16 + 16), dense 1568 -> 1024 -> 1024, classifier 1024 -> 3
    ("off_apexnet", 28, 1024, 2 * (156 + 2_416) + (1_568 * 1024 + 1024) + (1024 * 1024 + 1024) + (1024 * 3 + 3)),
    ("sssnet", 64, 256, 2_432 + 64 + 18_496 + 128 + 5_184 * 256 + 256 + 256 * 3 + 3),
])
def test_peers_match_their_published_layout(name, size, features, params):
    model = create_model(name, act="relu").eval()
    with torch.no_grad():
        assert model.forward_features(torch.randn(2, 3, size, size)).shape == (2, features)
    assert n_params(model) == params
