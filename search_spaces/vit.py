"""ShuffleNetV2 1.0x + the improved ViT block (the paper's best model): searches the training recipe with seeded TPE."""

from search_spaces._common import DEMO_CONSTANTS, PAPER_CONSTANTS, suggest_demo_recipe, suggest_recipe

DESCRIPTION = "ShuffleNetV2 1.0x + improved ViT block (the paper's best): searches the training recipe"
SAMPLER = "tpe"
TRIALS = 20
FIXED = {**PAPER_CONSTANTS, "model": "shufflenet_v2_vit"}

DEMO_TRIALS = 3
DEMO_FIXED = DEMO_CONSTANTS


def suggest(trial) -> dict:
    return suggest_recipe(trial)


def suggest_demo(trial) -> dict:
    return suggest_demo_recipe(trial)
