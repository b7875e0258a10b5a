"""HOOF baseline: magnitude-weighted flow orientation histograms per block, standardised, linear SVM."""

DESCRIPTION = "HOOF: masked onset->apex flow, 8 orientation bins per 8x8 blocks, standardised, linear SVM (C inner)"
SAMPLER = "fixed"
TRIALS = 1
FIXED = {"method": "hoof", "grid": 8, "bins": 8, "classifier": "linear_svm", "c": 0.0}

DEMO_TRIALS = 1
DEMO_FIXED: dict = {}


def suggest(trial) -> dict:
    return {}


def suggest_demo(trial) -> dict:
    return {}
