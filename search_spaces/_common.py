"""Constants shared by the spaces."""

# The paper's training settings: Keras L2 0.2 on conv and dense kernels, dropout 0.5, LeakyReLU, Adam lr 1e-3,
# class-balanced sampling, mirrored copies of positive and surprise clips.
PAPER_CONSTANTS = {
    "l2": 0.2,
    "dropout": 0.5,
    "act": "leaky_relu",
    "lr": 1e-3,
    "balanced_sampling": True,
    "flip_expand": True,
}

# The built-in demo on a CPU: 64-px inputs and flow fine-tuning (its classes live in the motion only, so a
# single apex face carries no class signal there).
DEMO_CONSTANTS = {"input_size": 64, "modality": "flow", "batch_size": 32}


def suggest_recipe(trial, *, input_sizes=(112, 160, 224), epochs=(10, 40)) -> dict:
    """The training recipe searched by the model spaces (vit, cbam, baseline) on real data."""
    return {
        "lr": trial.suggest_float("lr", 2e-4, 3e-3, log=True),
        "epochs": trial.suggest_int("epochs", epochs[0], epochs[1], step=5),
        "pretrain_epochs": trial.suggest_int("pretrain_epochs", 5, 30, step=5),
        "batch_size": trial.suggest_categorical("batch_size", [16, 32]),
        "input_size": trial.suggest_categorical("input_size", list(input_sizes)),
        "modality": trial.suggest_categorical("modality", ["apex", "flow"]),
        "pretrain": trial.suggest_categorical("pretrain", [True, False]),
        "classifier": trial.suggest_categorical("classifier", ["hinge", "softmax", "svc"]),
    }


def suggest_demo_recipe(trial) -> dict:
    """The CPU-sized recipe searched on the built-in demo."""
    return {
        "lr": trial.suggest_float("lr", 5e-4, 3e-3, log=True),
        "epochs": trial.suggest_int("epochs", 4, 8, step=2),
        "pretrain": trial.suggest_categorical("pretrain", [True, False]),
        "pretrain_epochs": trial.suggest_int("pretrain_epochs", 2, 4, step=2),
        "classifier": trial.suggest_categorical("classifier", ["hinge", "softmax", "svc"]),
    }
