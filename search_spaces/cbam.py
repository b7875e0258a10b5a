"""ShuffleNetV2 + CBAM: a seeded TPE search around what works on a few hundred clips."""

from search_spaces._common import SMALL_FLOW_ARCH, small_flow_space

MODEL_OPTIONS = {**SMALL_FLOW_ARCH, "cbam_reduction": 4}
SPACE = small_flow_space("cbam", "ShuffleNetV2 + CBAM: searches the recipe around the small-flow recipe",
                         "shufflenet_v2_cbam", MODEL_OPTIONS)
