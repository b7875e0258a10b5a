"""LBP-TOP baseline: uniform LBP (P=8, R=1) on XY / XT / YT of the aligned frame sequence, 5x5 blocks, linear SVM."""

DESCRIPTION = "LBP-TOP: 59 uniform patterns on XY/XT/YT of the frame sequence per 5x5 blocks, standardised, linear SVM"
SAMPLER = "fixed"
TRIALS = 1
FIXED = {"method": "lbptop", "grid": 5, "points": 8, "radius": 1, "classifier": "linear_svm", "c": 0.0}

DEMO_TRIALS = 1
DEMO_FIXED: dict = {}


def suggest(trial) -> dict:
    return {}


def suggest_demo(trial) -> dict:
    return {}
