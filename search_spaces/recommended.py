"""The recommended recipe (issue 24): the linear probe and small ShuffleNetV2s, combined with a weight fitted per
outer fold on the training subjects only, instead of one recipe fixed on one synthetic world.

Per outer fold (``mer_ray.methods.portfolio``, cross-fitting): the training subjects are split into 5 subject-wise
groups; one small ShuffleNetV2 is trained on every 4 groups (5 networks) and predicts the group it did not see and
the held-out subject; the probe likewise. Each member's out-of-fold probabilities are calibrated by a temperature,
and the weight of the probe against the networks (0, 0.1, ..., 1) is chosen by the class-balanced log-loss of the
training clips' out-of-fold predictions. The held-out subject's scores: the weighted mean of the probe (refitted on
all training subjects) and the mean of the 5 networks. The networks cost what the fixed 5-network ensemble
costs; only the probe is fitted 6 times. No search: one configuration.

``PORTFOLIO_SSSNET`` is the first design measured (issue 24): the probe, an SSSNet-style network and the
5-network ensemble, each refitted on all training subjects after 3 inner folds: about 4 x the cost.
"""

from search_spaces import ensemble, peers, probe
from search_spaces.space import SearchSpace

INNER_FOLDS = 5
RECIPES = {
    "probe": dict(probe.SPACE.fixed),
    "shufflenet": {**ensemble.FIXED, "ensemble": 1},  # one network per inner fold: 5 per outer fold
}
FIXED = {
    "method": "portfolio",
    "members": ["probe", "shufflenet"],
    "recipes": RECIPES,
    "crossfit": ["shufflenet"],
    "inner_folds": INNER_FOLDS,
    "combiner": "weights",
    "objective": "log_loss",
    "weight_step": 0.1,
    "calibrate": True,
}

PORTFOLIO_SSSNET = {
    "method": "portfolio",
    "members": ["probe", "sssnet", "shufflenet"],
    "recipes": {"probe": dict(probe.SPACE.fixed),
                "sssnet": {**peers.DEMO_RECIPES["sssnet"], "epochs": 20},  # 64 px; 20 epochs
                "shufflenet": dict(ensemble.FIXED)},  # 5 networks averaged
    "inner_settings": {"shufflenet": {"ensemble": 1}},  # the inner folds only
    "inner_folds": 3,
    "combiner": "weights",
    "objective": "log_loss",
    "weight_step": 0.1,
    "calibrate": True,
}

SPACE = SearchSpace(
    name="recommended",
    description=("recommended recipe, adaptive: the linear probe and 5 small ShuffleNetV2s (cross-fitted on 5 "
                 "subject-wise folds of the training subjects), combined with a weight and temperatures fitted per "
                 "outer fold on the training subjects' out-of-fold predictions; no search"),
    fixed=FIXED,
    best=FIXED,
)
