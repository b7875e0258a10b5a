"""MDMO baseline (Liu et al. 2016): main-direction mean flow of 36 landmark ROIs, standardised, linear SVM."""

DESCRIPTION = "MDMO: main-direction mean onset->apex flow of 36 landmark ROIs (72 numbers), standardised, linear SVM"
SAMPLER = "fixed"
TRIALS = 1
FIXED = {"method": "mdmo", "bins": 8, "roi_size": 0.25, "classifier": "linear_svm", "c": 0.0}

DEMO_TRIALS = 1
DEMO_FIXED: dict = {}


def suggest(trial) -> dict:
    return {}


def suggest_demo(trial) -> dict:
    return {}
