"""The adaptive recipe (issue 24): a small portfolio whose combination is fitted per outer fold, on the training
subjects only, instead of one recipe fixed on one synthetic world.

Members: the linear probe, an SSSNet-style network (the peers' recipe at a CPU-sized epoch count) and the
recommended ensemble of small ShuffleNetV2s. Per outer fold the members run on 3 inner subject-wise folds of the
training subjects (one network instead of the five of the ensemble there), each member's out-of-fold probabilities
are calibrated by a temperature, and non-negative weights summing to 1 are chosen on a 0.1 simplex grid by the
class-balanced log-loss; then every member is trained on all the training subjects and the held-out subject's
scores are the weighted mean (``mer_ray.methods.portfolio``). No search: one configuration.
"""

from search_spaces import peers, probe, recommended
from search_spaces.space import SearchSpace

RECIPES = {
    "probe": dict(probe.SPACE.fixed),
    "sssnet": {**peers.DEMO_RECIPES["sssnet"], "epochs": 20},  # 64 px; 20 epochs (the demo variant: 40)
    "shufflenet": dict(recommended.FIXED),  # 5 networks averaged
}
FIXED = {
    "method": "portfolio",
    "members": ["probe", "sssnet", "shufflenet"],
    "recipes": RECIPES,
    "inner_settings": {"shufflenet": {"ensemble": 1}},  # the inner folds only: their cost is the recipe's budget
    "inner_folds": 3,
    "combiner": "weights",
    "objective": "log_loss",
    "weight_step": 0.1,
    "calibrate": True,
}

SPACE = SearchSpace(
    name="adaptive",
    description=("adaptive recipe: the linear probe, an SSSNet and 5 x small ShuffleNetV2, combined with weights "
                 "fitted per outer fold on 3 inner subject-wise folds of the training subjects; no search"),
    fixed=FIXED,
    best=FIXED,
)
