"""Constants and builders shared by the spaces."""

from search_spaces.space import SearchSpace

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

# What works on a few hundred clips (README, "Recipes that beat the linear probe"; measured on the hard demo):
# - a SMALL ShuffleNetV2: 0.5x, one unit per stage, no 4x stem downsampling, on 16-px (u, v, strain) flow (area-
#   pooled from 224 px: the pooling is the denoising the linear probe gets from its 16x16 grid);
# - a 2x2 grid-pooled head instead of global average pooling (the class lives in WHERE the face moves);
# - a gently leaky activation (LeakyReLU slope 0.7): ReLU networks memorised the training subjects and fell to
#   near chance on held-out ones; the closer to linear, the better they generalised, up to a point;
# - AdamW (decoupled weight decay 0.05) and a cosine schedule instead of Keras L2 0.2, which dominates the loss;
# - no mirrored copies of positive / surprise only: a class-dependent flip turns any left-right asymmetry of the
#   recording into a class cue;
# - class-balanced epochs (dropping them cost 0.07 UAR), fixed epochs, the last one; no pretraining;
# - small geometric augmentation of the flow field (rotation 10 deg, scale 10 %, shift 5 %); magnitude jitter,
#   mixup and label smoothing each cost UAR;
# - a linear path ("skip": the 16x16 input beside the learnt features, wide-and-deep): the network starts from
#   what the linear probe can do and adds to it;
# - mirror test-time averaging (``tta_flip``: each clip scored as the mean of itself and its left-right mirror):
#   +0.022 UAR over 3 training seeds; a mirror of every class in training (``aug_flip`` 0.5) +0.020, both +0.014;
#   an auxiliary AU loss on the sheets' codes (``au_weight`` 0.5 / 1 / 2) about 0.
# The recommended space averages 5 such networks per fold (other seeds): the largest single gain measured.
SMALL_FLOW_ARCH = {"width": 0.5, "stem": "small", "repeats": [1, 1, 1], "conv5": 64, "pool": "grid", "grid": 2,
                   "act_slope": 0.7, "skip": 16}
SMALL_FLOW_RECIPE = {
    "modality": "flow",
    "input_size": 16,
    "pretrain": False,
    "classifier": "softmax",
    "act": "leaky_relu",
    "l2": 0.0,
    "weight_decay": 0.05,
    "lr": 1e-3,
    "lr_schedule": "cosine",
    "epochs": 30,
    "batch_size": 32,
    "dropout": 0.5,
    "balanced_sampling": True,
    "flip_expand": False,
    "aug_rotate": 10.0,
    "aug_scale": 0.1,
    "aug_translate": 0.05,
    "tta_flip": True,
}


# The small-flow recipe in the searched parameters' names: a search's first trial (Optuna enqueue_trial), so that
# TPE starts from what works instead of from a random draw.
SMALL_FLOW_FIRST_TRIAL = {"lr": 1e-3, "weight_decay": 0.05, "epochs": 30, "input_size": 16, "dropout": 0.5,
                          "aug_flip": 0.0, "classifier": "softmax", "act_slope": 0.7, "width": 0.5, "grid": 2}


def suggest_recipe(trial, *, epochs=(20, 60)) -> dict:
    """The training recipe searched by the model spaces (vit, cbam, baseline), around what works."""
    return {
        "lr": trial.suggest_float("lr", 3e-4, 3e-3, log=True),
        "weight_decay": trial.suggest_float("weight_decay", 1e-3, 0.2, log=True),
        "epochs": trial.suggest_int("epochs", epochs[0], epochs[1], step=10),
        "input_size": trial.suggest_categorical("input_size", [16, 24, 32]),
        "dropout": trial.suggest_float("dropout", 0.2, 0.6, step=0.1),
        "aug_flip": trial.suggest_categorical("aug_flip", [0.0, 0.5]),
        "classifier": trial.suggest_categorical("classifier", ["softmax", "svc"]),
    }


def suggest_arch(trial, base: dict) -> dict:
    """Architecture options searched around ``SMALL_FLOW_ARCH`` (a model's own options on top in ``base``)."""
    return {**base,
            "act_slope": trial.suggest_float("act_slope", 0.3, 0.9, step=0.1),
            "width": trial.suggest_categorical("width", [0.5, 1.0]),
            "grid": trial.suggest_categorical("grid", [1, 2, 4])}


def suggest_demo_recipe(trial) -> dict:
    """The CPU-sized recipe searched on the built-in demo."""
    return {
        "lr": trial.suggest_float("lr", 5e-4, 3e-3, log=True),
        "epochs": trial.suggest_int("epochs", 10, 30, step=10),
        "input_size": trial.suggest_categorical("input_size", [16, 32]),
        "classifier": trial.suggest_categorical("classifier", ["softmax", "svc"]),
    }


def small_flow_space(name: str, description: str, model: str, model_options: dict) -> SearchSpace:
    """A model space searched by seeded TPE around the small-flow recipe (vit, cbam, baseline): its first trial and
    its ``best`` are the small-flow recipe itself; the demo variant searches a CPU-sized recipe."""
    fixed = {**SMALL_FLOW_RECIPE, "model": model, "model_options": model_options}
    return SearchSpace(
        name=name,
        description=description,
        fixed=fixed,
        suggest=lambda trial: {"model_options": suggest_arch(trial, model_options), **suggest_recipe(trial)},
        sampler="tpe",
        trials=20,
        startup=5,
        first_trial=SMALL_FLOW_FIRST_TRIAL,  # best, in the searched parameters: the search starts there
        best=fixed,  # the space's best fixed recipe (benchmarks/recipe_quality.py)
        suggest_demo=suggest_demo_recipe,
        demo_trials=3,
    )
