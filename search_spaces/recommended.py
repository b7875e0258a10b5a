"""The recommended recipe (issue 24): the linear probe and small ShuffleNetV2s, combined with a weight fitted per
outer fold on the training subjects only, instead of one recipe fixed on one synthetic world.

Per outer fold (``mer_ray.methods.portfolio``): the training subjects are split into 5 subject-wise groups; one
small ShuffleNetV2 (the ``ensemble`` space's network) is trained on every 4 groups and scores the group it did not
see, and the probe likewise, so every training clip has an out-of-fold score from each member. Each member's
out-of-fold probabilities are calibrated by a temperature, and the weight of the probe against the networks (0,
0.1, ..., 1) is chosen by the class-balanced log-loss of the training clips' out-of-fold predictions. Then the probe
and the 5-network ensemble are trained on all the training subjects, and the held-out subject's scores are their
weighted mean. Cost: about twice the fixed ensemble's (10 networks per fold instead of 5). No search.

``CROSSFIT`` is the cheaper variant measured beside it (issue 24): the 5 inner networks are also the network
member (their mean; no refit), at the fixed ensemble's cost, each network trained on 4/5 of the training subjects.
``PORTFOLIO_SSSNET`` is the first design measured: the probe, an SSSNet-style network and the 5-network ensemble,
each refitted after 3 inner folds (about 4 x the ensemble's cost).
"""

from search_spaces import ensemble, peers, probe
from search_spaces.space import SearchSpace

INNER_FOLDS = 5
FIXED = {
    "method": "portfolio",
    "members": ["probe", "shufflenet"],
    "recipes": {"probe": dict(probe.SPACE.fixed), "shufflenet": dict(ensemble.FIXED)},  # 5 networks averaged
    "inner_settings": {"shufflenet": {"ensemble": 1}},  # the inner folds: one network each
    "inner_folds": INNER_FOLDS,
    "combiner": "weights",
    "objective": "log_loss",
    "weight_step": 0.1,
    "calibrate": True,
}

CROSSFIT = {
    **FIXED,
    "recipes": {"probe": dict(probe.SPACE.fixed), "shufflenet": {**ensemble.FIXED, "ensemble": 1}},
    "inner_settings": {},
    "crossfit": ["shufflenet"],
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
    description=("recommended recipe, adaptive: the linear probe and 5 small ShuffleNetV2s, combined with a weight "
                 "and temperatures fitted per outer fold on out-of-fold predictions of 5 subject-wise groups of the "
                 "training subjects; no search"),
    fixed=FIXED,
    best=FIXED,
)
