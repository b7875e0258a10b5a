"""AU detection folds (``--task au``): one-vs-rest linear methods, the multi-label network, the portfolio; masking of
the held-out subject's AU codes, skipped AUs, and a serial LOSO search."""

import dataclasses

import numpy as np
import pytest

from mer_ray.evaluation import au_task
from mer_ray.evaluation.au_task import AuTask
from mer_ray.evaluation.folds import Fold, FoldTask
from mer_ray.methods import get_method, parse_config, run_task
from tests.mer_ray._synthetic import synthetic_features

TASK = AuTask((1, 2, 4, 7, 12), min_positives=3)
# AU codes that vary within a class (not a copy of the label): AU12 with class 0, AU1 + 2 with class 1, ...
CODES = {0: ("12", "12+25", "6+12"), 1: ("1+2", "1+2+5", "1"), 2: ("R4+7", "4", "4+7+12")}

NETWORK = {"method": "network", "model": "shufflenet_v2", "modality": "flow", "input_size": 16, "pretrain": False,
           "classifier": "softmax", "epochs": 2, "batch_size": 8, "lr": 1e-3, "l2": 0.0, "flip_expand": False,
           "model_options": {"width": 0.5, "stem": "small", "repeats": [1, 1, 1], "conv5": 32}}
PROBE = {"method": "linear_probe", "pool": 8, "classifier": "logreg", "c": 0.0}  # C chosen per AU, inner folds
FAST_PROBE = {**PROBE, "c": 0.1}


@pytest.fixture(scope="module")
def features():
    data = synthetic_features(n_subjects=4, clips=6, size=32)
    meta = data.meta.copy()
    meta["action_units"] = [CODES[label][i % 3] for i, label in enumerate(meta["label"])]
    return dataclasses.replace(data, meta=meta)


def scrambled(features, subject):
    """The held-out subject's AU codes (and labels) replaced: training must not change."""
    meta = features.meta.copy()
    rows = meta["subject"] == subject
    meta.loc[rows, "action_units"] = "1+2+4+7+12+25"
    meta.loc[rows, "label"] = (meta.loc[rows, "label"] + 1) % 3
    return dataclasses.replace(features, meta=meta)


def task_of(params, subject, au=TASK):
    return FoldTask("c000", Fold(subject, (subject,)), parse_config(params), 11, au=au)


@pytest.mark.parametrize("params", [PROBE, NETWORK, {**PROBE, "method": "hoof"} | {"pool": None}],
                         ids=["probe", "network", "hoof"])
def test_the_held_out_subjects_au_codes_never_change_a_fold(features, params):
    params = {k: v for k, v in params.items() if v is not None}
    if params["method"] == "hoof":
        params = {"method": "hoof", "grid": 4}
    subject = features.subjects[1]
    first = run_task(task_of(params, subject), features, "cpu")
    second = run_task(task_of(params, subject), scrambled(features, subject), "cpu")
    assert first.y_pred.shape == (6, len(TASK.aus)) and set(np.unique(first.y_pred)) <= {-1, 0, 1}
    np.testing.assert_array_equal(first.y_pred, second.y_pred)
    np.testing.assert_array_equal(first.scores, second.scores)  # bit-identical, NaN in the same places
    assert first.model_digest == second.model_digest


def test_a_fold_function_given_visible_held_out_codes_refuses_them(features):
    subject = features.subjects[0]
    leaky = features.with_masked_labels(subject)
    meta = leaky.meta.copy()
    meta.loc[meta["subject"] == subject, "action_units"] = "12"  # labels masked, codes visible
    leaky = dataclasses.replace(leaky, meta=meta)
    for params in (PROBE, NETWORK):
        config = parse_config(params)
        with pytest.raises(ValueError, match="AU codes of held-out subject"):
            get_method(config.method).fit_predict(config, leaky, [subject], 0, au=TASK)


def test_an_au_with_too_few_training_positives_is_skipped_not_scored(features):
    subject = features.subjects[0]
    meta = features.meta.copy()
    with_seven = np.flatnonzero(meta["action_units"].str.contains("7") & (meta["subject"] != subject))
    meta.loc[with_seven[2:], "action_units"] = "4"  # AU7 on 2 training clips only
    rare = dataclasses.replace(features, meta=meta)
    result = run_task(task_of(PROBE, subject), rare, "cpu")
    k = TASK.aus.index(7)
    assert result.details["au"]["skipped"] == {"AU7": "2 positive training clips < 3"}
    assert (result.y_pred[:, k] == au_task.SKIPPED).all() and np.isnan(result.scores[:, k]).all()
    others = np.delete(result.y_pred, k, axis=1)
    assert set(np.unique(others)) <= {0, 1}


def test_a_network_classifier_without_a_multi_label_form_is_refused(features):
    with pytest.raises(ValueError, match="classifier='svc' has no multi-label form"):
        run_task(task_of({**NETWORK, "classifier": "svc"}, features.subjects[0]), features, "cpu")


def test_the_portfolio_fits_its_weight_on_training_aus_and_ignores_the_held_out_codes(features):
    params = {"method": "portfolio", "members": ["probe", "net"], "inner_folds": 2,
              "recipes": {"probe": FAST_PROBE, "net": {**NETWORK, "epochs": 1}}}
    subject = features.subjects[2]
    first = run_task(task_of(params, subject), features, "cpu")
    second = run_task(task_of(params, subject), scrambled(features, subject), "cpu")
    np.testing.assert_array_equal(first.y_pred, second.y_pred)
    np.testing.assert_array_equal(first.scores, second.scores)
    assert first.details["portfolio"] == second.details["portfolio"]
    weights = first.details["portfolio"]["weights"]
    assert sum(weights.values()) == pytest.approx(1.0)
    assert np.asarray(first.details["member_scores"]["probe"]).shape == (6, len(TASK.aus))
    assert "skipped" in first.details["au"]


def test_a_serial_au_search_pools_per_au_f1_and_resumes_without_rerunning(tmp_path, features):
    from mer_ray.search.scheduler import LosoSearch, Schedule, run_serial
    from search_spaces.space import SearchSpace

    space = SearchSpace.of_recipe("probe_au", FAST_PROBE)
    search = LosoSearch(tmp_path, space, features, n_trials=1, objective="f1_macro", au=TASK, log=lambda _: None)
    run_serial(search, device="cpu")
    predictions = search.all_predictions()
    assert len(predictions) == len(features)
    assert len(predictions["y_true"].iloc[0]) == len(TASK.aus)
    truth = au_task.au_matrix(features.meta.set_index("sample_id").loc[predictions["sample"], "action_units"],
                              TASK.aus)
    np.testing.assert_array_equal(au_task.stacked(predictions["y_true"]), truth)  # the driver's own copy
    board = search.leaderboard()
    expected = au_task.au_scores(predictions, TASK)
    assert board.iloc[0]["f1_macro"] == pytest.approx(expected["f1_macro"])
    assert board.iloc[0]["state"] == "COMPLETE" and "f1_binary_AU12" in board
    again = LosoSearch(tmp_path, space, features, n_trials=1, objective="f1_macro", au=TASK, log=lambda _: None)
    assert again.next_fold() is Schedule.DONE
    with pytest.raises(ValueError, match="objective must be one of"):
        LosoSearch(tmp_path / "x", space, features, n_trials=1, objective="uar", au=TASK)
