"""A tiny search space for tests (a real space module's shape, CPU-cheap values)."""

DESCRIPTION = "test space"
SAMPLER = "tpe"
TRIALS = 2
FIXED = {"model": "shufflenet_v2", "input_size": 64, "epochs": 1, "pretrain": False, "batch_size": 8,
         "classifier": "softmax"}
DEMO_TRIALS = 2
DEMO_FIXED = {}


def suggest(trial) -> dict:
    return {"lr": trial.suggest_float("lr", 5e-4, 3e-3, log=True)}


def suggest_demo(trial) -> dict:
    return suggest(trial)
