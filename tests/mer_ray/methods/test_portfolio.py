"""The portfolio method: combination weights fitted on inner folds of the training subjects only.

Honest by construction: scrambling the held-out subject's labels leaves the chosen weights and every prediction
bit-identical; the weights are recorded per fold; a member that is pure noise gets (about) no weight.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
import pytest

from mer_ray import methods
from mer_ray.evaluation.folds import Fold, FoldResult, FoldTask, fold_rows
from mer_ray.evaluation.parts import portfolio_section
from mer_ray.methods import Method, parse_config, run_task
from mer_ray.methods.portfolio_combination import fit_combination, probabilities, simplex_grid
from mer_ray.methods.portfolio_config import PortfolioConfig
from tests.mer_ray._synthetic import synthetic_features

PROBE = {"method": "linear_probe", "pool": 16, "classifier": "logreg", "c": 0.0}
TINY_NET = {"method": "network", "model": "shufflenet_v2", "modality": "flow", "input_size": 16, "pretrain": False,
            "classifier": "softmax", "epochs": 1, "batch_size": 8, "ensemble": 2, "lr_schedule": "cosine",
            "weight_decay": 0.05, "l2": 0.0,
            "model_options": {"width": 0.5, "stem": "small", "repeats": [1, 1, 1], "conv5": 64, "pool": "grid",
                              "grid": 2, "act_slope": 0.7, "skip": 16}}


@dataclass(frozen=True)
class NoiseConfig:
    """A member that has learnt nothing: random scores drawn from its seed."""

    method: str = "noise"

    @classmethod
    def from_dict(cls, values):
        return cls(**values)

    def to_dict(self):
        return asdict(self)


def noise_fit_predict(config, data, held_out, seed, *, exclude_subjects=(), device=None, log=None):
    train_rows, test_rows = fold_rows(data, held_out, exclude_subjects)
    scores = np.random.default_rng(seed).normal(0, 2, (len(test_rows), 3)).astype(np.float32)
    return FoldResult("+".join(held_out), data.meta["sample_id"].iloc[test_rows].tolist(), scores.argmax(1), scores,
                      data.meta["sample_id"].iloc[train_rows].tolist(), 0, 0.0)


@pytest.fixture
def noise_method(monkeypatch):
    monkeypatch.setitem(methods.METHODS, "noise", Method("noise", NoiseConfig, noise_fit_predict, "test noise"))


def portfolio(**changes) -> PortfolioConfig:
    values = {"method": "portfolio", "members": ["probe", "noise", "net"],
              "recipes": {"probe": PROBE, "noise": {"method": "noise"}, "net": TINY_NET},
              "inner_settings": {"net": {"ensemble": 1}}, "inner_folds": 3, **changes}
    return parse_config(values)


def test_config_checks_members_and_recipes(noise_method):
    config = portfolio()
    assert isinstance(config, PortfolioConfig) and config.members == ("probe", "noise", "net")
    assert config.member_config("net", inner=True).ensemble == 1
    assert config.member_config("net", inner=False).ensemble == 2
    assert config.member_config("probe", inner=True).method == "linear_probe"
    assert PortfolioConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ValueError, match="have no recipe"):
        portfolio(members=["probe", "other"])
    with pytest.raises(ValueError, match="cannot be a member of a portfolio"):
        portfolio(members=["probe", "self"], recipes={"probe": PROBE, "self": config.to_dict()}, inner_settings={})
    with pytest.raises(ValueError, match="inner_folds"):
        portfolio(inner_folds=1)
    with pytest.raises(ValueError, match="member .net.: TrainConfig: unknown training parameters"):
        portfolio(recipes={"probe": PROBE, "noise": {"method": "noise"}, "net": {**TINY_NET, "epoch": 3}})


def test_probabilities_keep_softmax_outputs_and_softmax_decision_values():
    from sklearn.linear_model import LogisticRegression

    p = np.array([[0.2, 0.5, 0.3], [0.9, 0.05, 0.05]], np.float32)
    np.testing.assert_allclose(probabilities(p), p, atol=1e-6)
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(60, 4)), np.arange(60) % 3
    model = LogisticRegression(max_iter=1000).fit(x, y)
    np.testing.assert_allclose(probabilities(model.decision_function(x)), model.predict_proba(x), atol=1e-6)


def test_simplex_grid_sums_to_one_and_starts_with_the_pure_members():
    grid = simplex_grid(3, 0.1)
    assert len(grid) == 66 and np.allclose(grid.sum(axis=1), 1) and (grid >= 0).all()
    np.testing.assert_array_equal(grid[:3], np.eye(3))


@pytest.mark.parametrize("combiner", ["weights", "select", "stack"])
def test_a_pure_noise_member_gets_no_weight(combiner, noise_method):
    rng = np.random.default_rng(1)
    y = np.arange(300) % 3
    good = np.full((300, 3), 0.15)
    good[np.arange(300), np.where(rng.random(300) < 0.7, y, (y + 1) % 3)] = 0.7  # 70 % right
    noise = rng.dirichlet(np.ones(3), 300)
    weak = np.full((300, 3), 0.3)
    weak[np.arange(300), np.where(rng.random(300) < 0.5, y, (y + 2) % 3)] = 0.4  # 50 % right
    groups = np.repeat(np.arange(10), 30)
    config = portfolio(combiner=combiner)  # members probe, noise, net
    combination = fit_combination(config, [good, noise, weak], y, groups)
    assert combination.weights[1] <= 0.05, combination.record()
    if combiner != "stack":  # the stacker's "weights" are coefficient-norm shares, not a mixture's weights
        assert combination.weights[0] >= 0.5
    out = combination([good, noise, weak])
    assert out.shape == (300, 3) and np.allclose(out.sum(axis=1), 1)


@pytest.mark.parametrize("fallback", ["", "probe"])
def test_scrambled_held_out_labels_leave_weights_and_predictions_bit_identical(fallback, noise_method):
    features = synthetic_features(n_subjects=4, clips=6, size=64, seed=3)
    held = features.subjects[1]
    scrambled = features.meta.copy()
    hit = scrambled["subject"] == held
    scrambled.loc[hit, "label"] = (scrambled.loc[hit, "label"] + 1) % 3
    from dataclasses import replace

    other = replace(features, meta=scrambled)
    task = FoldTask("c000", Fold(held, (held,)), portfolio(fallback=fallback), seed=11)
    a, b = run_task(task, features), run_task(task, other)
    assert ("fallback" in a.details["portfolio"]["inner"]) == bool(fallback)
    assert a.details["portfolio"] == b.details["portfolio"]  # weights, temperatures, inner figures
    assert a.details["member_scores"] == b.details["member_scores"]
    assert a.sample_ids == b.sample_ids and a.model_digest == b.model_digest
    np.testing.assert_array_equal(a.scores, b.scores)
    np.testing.assert_array_equal(a.y_pred, b.y_pred)
    # the record: weights per member summing to 1, a noise member ~0, inner groups are training subjects only
    weights = a.details["portfolio"]["weights"]
    assert set(weights) == {"probe", "noise", "net"} and abs(sum(weights.values()) - 1) < 1e-9
    assert weights["noise"] <= 0.1
    inner = {s for group in a.details["inner_groups"].values() for s in group}
    assert held not in inner and inner == set(features.subjects) - {held}
    assert a.scores.shape == (6, 3) and np.allclose(a.scores.sum(axis=1), 1, atol=1e-5)


def test_portfolio_section_shows_each_member_and_the_weights_per_fold(noise_method):
    features = synthetic_features(n_subjects=3, clips=6, size=64, seed=4)
    config = portfolio(members=["probe", "noise"], inner_settings={}, inner_folds=2)
    details, frames = {}, []
    for subject in features.subjects:
        result = run_task(FoldTask("c000", Fold(subject, (subject,)), config, seed=5), features)
        details[subject] = result.details
        truth = features.meta.set_index("sample_id").loc[result.sample_ids, "label"].to_numpy()
        frames.append(pd.DataFrame({"fold": subject, "sample": result.sample_ids, "y_true": truth,
                                    "y_pred": result.y_pred, "scores": list(map(list, result.scores))}))
    text = portfolio_section(pd.concat(frames, ignore_index=True), details)
    assert "| combination |" in text and "| probe |" in text and "| noise |" in text
    for subject in features.subjects:
        assert f"| {subject} |" in text
    assert "fell back" not in text
    for d in details.values():  # the same folds, recorded as a portfolio with a fallback that fell back once
        d["portfolio"]["inner"]["fallback"] = {"member": "probe", "share_ahead": 0.9, "confidence": 0.8,
                                               "used": False}
    first = next(iter(details.values()))["portfolio"]["inner"]["fallback"]
    first.update(share_ahead=0.25, used=True)
    text = portfolio_section(pd.concat(frames, ignore_index=True), details)
    assert "| fell back to probe |" in text and "yes (combination ahead in 25.0%)" in text
    assert text.count("no (combination ahead in 90.0%)") == 2 and "1 of 3 folds" in text and "at least 80%" in text


def test_a_crossfit_member_is_its_inner_models_mean_and_stays_honest(noise_method):
    from dataclasses import replace

    from mer_ray.methods.portfolio import member_seed

    features = synthetic_features(n_subjects=4, clips=6, size=64, seed=6)
    held = features.subjects[2]
    config = portfolio(members=["probe", "net"], inner_settings={"net": {"ensemble": 1}}, inner_folds=3,
                       crossfit=["net"])
    with pytest.raises(ValueError, match="crossfit names"):
        portfolio(crossfit=["other"])
    task = FoldTask("c000", Fold(held, (held,)), config, seed=13)
    a = run_task(task, features)
    # the net's held-out scores: the mean of the 3 inner models, each trained without its group and the held subject
    masked = features.with_masked_labels([held])
    net = config.member_config("net", inner=True)
    parts = []
    for g, group in a.details["inner_groups"].items():
        result = methods.get_method("network").fit_predict(
            net, masked.with_masked_labels(list(group)), [*group, held], member_seed(13, "net", g))
        keep = [k for k, sid in enumerate(result.sample_ids) if sid in a.details["sample_ids"]]
        assert [result.sample_ids[k] for k in keep] == a.details["sample_ids"]
        parts.append(probabilities(result.scores)[keep])
    np.testing.assert_allclose(a.details["member_scores"]["net"], np.mean(parts, axis=0), atol=1e-6)
    # scrambling the held-out subject's labels changes nothing
    scrambled = features.meta.copy()
    hit = scrambled["subject"] == held
    scrambled.loc[hit, "label"] = (scrambled.loc[hit, "label"] + 2) % 3
    b = run_task(task, replace(features, meta=scrambled))
    assert a.details["portfolio"] == b.details["portfolio"] and a.model_digest == b.model_digest
    np.testing.assert_array_equal(a.scores, b.scores)
