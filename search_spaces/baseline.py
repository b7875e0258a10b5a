"""ShuffleNetV2 without attention: a seeded TPE search around what works on a few hundred clips."""

from search_spaces._common import SMALL_FLOW_ARCH, small_flow_space

MODEL_OPTIONS = {**SMALL_FLOW_ARCH}
SPACE = small_flow_space("baseline", "ShuffleNetV2 without attention: searches the recipe around the small-flow recipe",
                         "shufflenet_v2", MODEL_OPTIONS)
