"""ShuffleNetV2 + the improved ViT block (the paper's best model): a seeded TPE search around what works."""

from search_spaces._common import SMALL_FLOW_ARCH, small_flow_space

MODEL_OPTIONS = {**SMALL_FLOW_ARCH, "vit_dim": 64}
SPACE = small_flow_space(
    "vit", "ShuffleNetV2 + improved ViT block (the paper's best): searches the recipe around the small-flow one",
    "shufflenet_v2_vit", MODEL_OPTIONS)
