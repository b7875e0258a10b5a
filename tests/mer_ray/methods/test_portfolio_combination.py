"""The portfolio's combination rule (``mer_ray.methods.portfolio_combination``): the fallback to one member unless
the fitted combination is ahead of it on the training subjects' out-of-fold predictions."""

from __future__ import annotations

import numpy as np
import pytest

from mer_ray.methods import parse_config
from mer_ray.methods.portfolio_combination import fit_combination, share_ahead

PROBE = {"method": "linear_probe", "pool": 16, "classifier": "logreg", "c": 0.0}
OTHER = {"method": "linear_probe", "pool": 8, "classifier": "logreg", "c": 0.0}


def config(**changes):
    return parse_config({"method": "portfolio", "members": ["probe", "other"],
                         "recipes": {"probe": PROBE, "other": OTHER}, **changes})


def member(y: np.ndarray, right: float, rng: np.random.Generator) -> np.ndarray:
    """(N, 3) probabilities that put 0.6 on the true class for a share ``right`` of the clips, else on another."""
    p = np.full((len(y), 3), 0.2)
    p[np.arange(len(y)), np.where(rng.random(len(y)) < right, y, (y + 1) % 3)] = 0.6
    return p


def data(probe_right: float, other_right: float, seed: int = 0):
    rng = np.random.default_rng(seed)
    y = np.arange(240) % 3
    return [member(y, probe_right, rng), member(y, other_right, rng)], y, np.repeat(np.arange(12), 20)


def test_share_ahead_is_deterministic_and_reads_which_side_leads():
    (probe, other), y, groups = data(0.5, 0.9)
    share = share_ahead(other, probe, y, groups)
    assert share == share_ahead(other, probe, y, groups) == 1.0
    assert share_ahead(probe, other, y, groups) == 0.0
    assert share_ahead(probe, probe, y, groups) == 0.0  # ties are not "ahead"


def test_the_combination_is_used_where_it_is_clearly_ahead_of_the_fallback():
    probs, y, groups = data(0.5, 0.9)
    combination = fit_combination(config(fallback="probe"), probs, y, groups)
    record = combination.record()["inner"]["fallback"]
    assert record == {"member": "probe", "share_ahead": 1.0, "confidence": 0.8, "used": False}
    assert combination.weights[1] >= 0.5
    plain = fit_combination(config(), probs, y, groups)
    np.testing.assert_array_equal(combination.weights, plain.weights)


@pytest.mark.parametrize("combiner", ["weights", "select", "stack"])
def test_the_fallback_member_alone_where_the_others_are_not_ahead(combiner):
    (probe, _), y, groups = data(0.7, 0.7, seed=3)
    other = np.random.default_rng(4).dirichlet(np.ones(3), len(y))  # has learnt nothing
    probs = [probe, other]  # the combination is the probe, give or take a few clips
    combination = fit_combination(config(fallback="probe", combiner=combiner), probs, y, groups)
    record = combination.record()["inner"]["fallback"]
    assert record["used"] and record["share_ahead"] < 0.8, record
    assert combination.combiner == "weights"
    np.testing.assert_array_equal(combination.weights, [1.0, 0.0])
    np.testing.assert_array_equal(combination(probs).argmax(axis=1), probs[0].argmax(axis=1))


def test_fallback_confidence_sets_how_far_ahead_is_enough():
    probs, y, groups = data(0.6, 0.62, seed=1)  # two members close to each other, their mixture a little ahead
    share = fit_combination(config(fallback="probe"), probs, y, groups).record()["inner"]["fallback"]["share_ahead"]
    assert 0.55 < share < 0.95
    below = fit_combination(config(fallback="probe", fallback_confidence=max(0.5, share - 0.05)), probs, y, groups)
    above = fit_combination(config(fallback="probe", fallback_confidence=min(1.0, share + 0.05)), probs, y, groups)
    assert not below.inner["fallback"]["used"] and above.inner["fallback"]["used"]


def test_fallback_must_be_a_member():
    with pytest.raises(ValueError, match="fallback 'svm' is not a member"):
        config(fallback="svm")
    with pytest.raises(ValueError, match="fallback_confidence"):
        config(fallback="probe", fallback_confidence=0.3)


def test_the_stacker_scores_a_validation_group_that_lacks_a_class():
    import warnings

    probs, y, groups = data(0.6, 0.7, seed=2)
    y = y.copy()
    y[(groups % 3 == 0) & (y == 2)] = 0  # subjects 0, 3, 6, 9 (one of GroupKFold's 3 folds) show no class 2
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # sklearn's "Scoring failed" and "non-finite test scores"
        combination = fit_combination(config(combiner="stack"), probs, y, groups)
    assert combination.inner["combination"]["c"] in (0.01, 0.1, 1.0, 10.0)
