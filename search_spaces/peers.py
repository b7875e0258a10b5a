"""The honest Table 3: every peer method with its published fixed recipe, on the same LOSO folds (a grid).

Each recipe trains for a fixed number of epochs and predicts with the LAST epoch (never a test-chosen one):
- ``ststnet``: the official PyTorch recipe (christy1206/STSTNet ``main.py``): 28x28 (u, v, strain) min-max
  normalised per map, Adam lr 5e-5, batch 256, 800 epochs, cross-entropy, no class balancing or flips.
- ``off_apexnet``: 28x28 (u, v), Adam lr 1e-4 with weight decay 1e-3 (meb's reproduction; ``l2`` 5e-4 is the same
  penalty on the kernels), 3000 epochs in meb; 1000 here (batch 256; the publication names no batch size).
- ``sssnet``: 64x64 (u, v, strain), Adam lr 1e-4, weight decay 1e-3, 200 epochs (meb's recipe).
- ``probe``: the linear probe (masked pooled flow + logistic regression).
- ``hoof``, ``mdmo``, ``lbptop``: the paper's Table 3 hand-crafted baselines + a linear SVM (their own spaces).
- ``paper``: the paper's ShuffleNetV2 + ViT with its settings (``search_spaces/paper.py``).
"""

from search_spaces import hoof, lbptop, mdmo, paper, probe
from search_spaces.space import SearchSpace

_SHALLOW = {"pretrain": False, "classifier": "softmax", "modality": "flow", "act": "relu", "dropout": 0.0,
            "balanced_sampling": False, "flip_expand": False, "plateau_patience": 10**6}
RECIPES = {
    "paper": {**paper.FIXED},
    "ststnet": {**_SHALLOW, "model": "ststnet", "input_size": 28, "flow_norm": "minmax", "lr": 5e-5,
                "batch_size": 256, "epochs": 800, "l2": 0.0},
    "off_apexnet": {**_SHALLOW, "model": "off_apexnet", "input_size": 28, "dropout": 0.5, "flow_norm": "minmax",
                    "lr": 1e-4, "batch_size": 256, "epochs": 1000, "l2": 5e-4},
    "sssnet": {**_SHALLOW, "model": "sssnet", "input_size": 64, "dropout": 0.5, "lr": 1e-4, "batch_size": 64,
               "epochs": 200, "l2": 5e-4},
    "probe": {**probe.SPACE.fixed},
    "hoof": {**hoof.SPACE.fixed},
    "mdmo": {**mdmo.SPACE.fixed},
    "lbptop": {**lbptop.SPACE.fixed},
}
# the demo's CPU-sized variants: fewer epochs, the paper's model at 64 px
DEMO_RECIPES = {
    **RECIPES,
    "paper": {**paper.FIXED, **paper.DEMO_FIXED},
    "ststnet": {**RECIPES["ststnet"], "epochs": 200},
    "off_apexnet": {**RECIPES["off_apexnet"], "epochs": 200},
    "sssnet": {**RECIPES["sssnet"], "epochs": 40},
}
GRID = {"peer": list(RECIPES)}


def suggest(trial) -> dict:
    return dict(RECIPES[trial.suggest_categorical("peer", GRID["peer"])])


def suggest_demo(trial) -> dict:
    return dict(DEMO_RECIPES[trial.suggest_categorical("peer", GRID["peer"])])


SPACE = SearchSpace(
    name="peers",
    description="peer methods with their published recipes on the same folds (grid): Table 3 with paired intervals",
    suggest=suggest,
    sampler="grid",
    grid=GRID,
    trials=len(RECIPES),
    reference="paper",  # --reference default: the paper's model
    suggest_demo=suggest_demo,
)
