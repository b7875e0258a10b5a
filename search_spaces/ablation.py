"""The paper's Table 2 grid: six models, each with and without flow pretraining, with softmax or SVM."""

from search_spaces._common import DEMO_CONSTANTS, PAPER_CONSTANTS
from search_spaces.space import SearchSpace

GRID = {
    "model": ["shufflenet_v2", "shufflenet_v2_cbam", "shufflenet_v2_vit", "mobilenet_v2", "resnet50", "deit_tiny"],
    "pretrain": [True, False],
    "classifier": ["hinge", "softmax"],
}


def suggest(trial) -> dict:
    return {name: trial.suggest_categorical(name, values) for name, values in GRID.items()}


SPACE = SearchSpace(
    name="ablation",
    description="the paper's ablation grid (Table 2): 6 models x flow pretraining on/off x softmax/SVM = 24 configs",
    fixed={**PAPER_CONSTANTS, "input_size": 224, "modality": "apex", "pretrain_epochs": 20, "epochs": 20,
           "batch_size": 32},
    suggest=suggest,
    sampler="grid",
    grid=GRID,
    trials=24,
    demo_fixed={**DEMO_CONSTANTS, "pretrain_epochs": 4, "epochs": 6},
)
