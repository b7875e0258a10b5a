"""A fixed ensemble: 5 small ShuffleNetV2s on 16-px flow, their scores averaged (the network part of the
recommended recipe, and the recommended recipe itself before issue 24); no search."""

from search_spaces._common import SMALL_FLOW_ARCH, SMALL_FLOW_RECIPE
from search_spaces.space import SearchSpace

ENSEMBLE = 5  # networks per fold, from other seeds, their scores averaged
FIXED = {**SMALL_FLOW_RECIPE, "model": "shufflenet_v2", "model_options": dict(SMALL_FLOW_ARCH), "ensemble": ENSEMBLE}

SPACE = SearchSpace(
    name="ensemble",
    description=("5 x ShuffleNetV2 0.5x (1 unit per stage, 2x2 grid head + linear path, LeakyReLU 0.7) on 16-px "
                 "flow, flow-field augmentation, AdamW, 30 epochs, mirror test-time averaging, scores averaged; "
                 "no search"),
    fixed=FIXED,
    best=FIXED,  # the recipe is already CPU-sized: no demo variant
)
