"""The recommended fixed recipe (no search): a small ShuffleNetV2 on 16-px flow; run it first on real data."""

from search_spaces._common import SMALL_FLOW_ARCH, SMALL_FLOW_RECIPE

DESCRIPTION = ("recommended fixed recipe: ShuffleNetV2 0.5x, 1 unit per stage, 16-px flow, 2x2 grid head, "
               "LeakyReLU 0.7, AdamW, 30 epochs; no search")
SAMPLER = "fixed"
TRIALS = 1
FIXED = {**SMALL_FLOW_RECIPE, "model": "shufflenet_v2", "model_options": dict(SMALL_FLOW_ARCH)}
BEST = FIXED

DEMO_TRIALS = 1
DEMO_FIXED: dict = {}  # the recipe is already CPU-sized


def suggest(trial) -> dict:
    return {}


def suggest_demo(trial) -> dict:
    return {}
