"""A tiny search space for tests (a real space's shape, CPU-cheap values)."""

from search_spaces.space import SearchSpace


def suggest(trial) -> dict:
    return {"lr": trial.suggest_float("lr", 5e-4, 3e-3, log=True)}


SPACE = SearchSpace(
    name="test",
    description="test space",
    fixed={"model": "shufflenet_v2", "input_size": 64, "epochs": 1, "pretrain": False, "batch_size": 8,
           "classifier": "softmax"},
    suggest=suggest,
    sampler="tpe",
    trials=2,
    demo_trials=2,
)
