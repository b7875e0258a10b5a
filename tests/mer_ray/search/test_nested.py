"""Nested LOSO: each outer fold searches on its own training subjects; the pooled outer score is unbiased."""

import optuna
import pandas as pd
import pytest

from mer_ray.evaluation.metrics import score_predictions
from mer_ray.methods import run_task
from mer_ray.search.nested import NestedLosoSearch
from mer_ray.search.scheduler import Schedule, run_serial
from tests.mer_ray import _spaces
from tests.mer_ray._synthetic import synthetic_features


@pytest.fixture(scope="module")
def features():
    return synthetic_features(n_subjects=4, clips=3, datasets=("d1", "d2"))


def nested(run_dir, features):
    return NestedLosoSearch(run_dir, _spaces.SPACE, features, n_trials=2, inner_k=2, seed=5, log=lambda _: None)


@pytest.fixture(scope="module")
def finished(tmp_path_factory, features):
    run_dir = tmp_path_factory.mktemp("nested")
    search = nested(run_dir, features)
    run_serial(search, device="cpu")
    return run_dir, search


def test_every_outer_subject_is_predicted_once_by_a_configuration_chosen_inside(finished, features):
    run_dir, search = finished
    outer = search.outer_predictions()
    assert sorted(outer["sample"]) == sorted(features.meta["sample_id"])
    summary = search.summary()
    assert summary["complete"]
    assert summary["scores"]["uar"] == pytest.approx(score_predictions(outer)["uar"])
    assert search.next_fold() is Schedule.DONE
    for subject, chosen in summary["chosen"].items():
        inner = search.inner[subject]
        study = optuna.load_study(study_name="loso", storage=f"sqlite:///{inner.run_dir / 'optuna.db'}")
        best = max(study.trials, key=lambda t: t.value)
        assert chosen == best.user_attrs["config_id"]  # the best configuration by the INNER pooled score


def test_inner_searches_never_see_their_outer_subject(finished):
    _, search = finished
    for subject, inner in search.inner.items():
        predictions = inner.all_predictions()
        assert len(predictions) > 0
        assert subject not in set(predictions["subject"])  # never predicted (nor scored) inside its own fold


def test_nested_resume_completes_identically(tmp_path, features, finished):
    _, reference = finished
    first = nested(tmp_path, features)
    for _ in range(3):  # some inner fits, then the driver dies
        task = first.next_fold()
        r = run_task(task, features, "cpu")
        first.complete_fold(task, r.sample_ids, r.y_pred.tolist(), r.scores.tolist())
    del first
    resumed = nested(tmp_path, features)
    run_serial(resumed, device="cpu")
    a = resumed.outer_predictions().sort_values("sample").reset_index(drop=True)
    b = reference.outer_predictions().sort_values("sample").reset_index(drop=True)
    pd.testing.assert_frame_equal(a[["sample", "chosen", "y_pred"]], b[["sample", "chosen", "y_pred"]])
