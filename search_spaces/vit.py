"""ShuffleNetV2 + the improved ViT block (the paper's best model): a seeded TPE search around what works."""

from search_spaces._common import (
    SMALL_FLOW_ARCH,
    SMALL_FLOW_FIRST_TRIAL,
    SMALL_FLOW_RECIPE,
    suggest_arch,
    suggest_demo_recipe,
    suggest_recipe,
)

DESCRIPTION = "ShuffleNetV2 + improved ViT block (the paper's best): searches the recipe around the small-flow one"
SAMPLER = "tpe"
TRIALS = 20
STARTUP = 5
MODEL_OPTIONS = {**SMALL_FLOW_ARCH, "vit_dim": 64}
FIXED = {**SMALL_FLOW_RECIPE, "model": "shufflenet_v2_vit", "model_options": MODEL_OPTIONS}
BEST = FIXED  # the space's best fixed recipe (benchmarks/recipe_quality.py)
FIRST_TRIAL = SMALL_FLOW_FIRST_TRIAL  # BEST in the searched parameters: the search starts there

DEMO_TRIALS = 3
DEMO_FIXED: dict = {}


def suggest(trial) -> dict:
    return {"model_options": suggest_arch(trial, MODEL_OPTIONS), **suggest_recipe(trial)}


def suggest_demo(trial) -> dict:
    return suggest_demo_recipe(trial)
