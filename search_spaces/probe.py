"""The linear probe: standardised, masked, pooled (u, v) flow + logistic regression, C chosen on training subjects."""

DESCRIPTION = "linear probe: masked (u, v) flow pooled to 16x16, standardised, logistic regression (C inner-chosen)"
SAMPLER = "fixed"
TRIALS = 1
FIXED = {"method": "linear_probe", "pool": 16, "classifier": "logreg", "c": 0.0}

DEMO_TRIALS = 1
DEMO_FIXED: dict = {}


def suggest(trial) -> dict:
    return {}


def suggest_demo(trial) -> dict:
    return {}
