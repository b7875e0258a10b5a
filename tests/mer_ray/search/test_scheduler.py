"""LOSO search bookkeeping without Ray: pooled objective, persisted folds, resume without re-running folds."""

import optuna
import pandas as pd
import pytest

from mer_ray.evaluation.metrics import score_predictions
from mer_ray.methods import run_task
from mer_ray.search.scheduler import LosoSearch, Schedule, run_serial
from tests.mer_ray import _spaces
from tests.mer_ray._synthetic import synthetic_features


@pytest.fixture(scope="module")
def features():
    return synthetic_features(n_subjects=3, clips=3, datasets=("d1", "d2"))


def new_search(run_dir, features, **kw):
    return LosoSearch(run_dir, _spaces.SPACE, features, n_trials=kw.pop("n_trials", 2), seed=7, log=lambda _: None,
                      **kw)


def fold_files(run_dir):
    return sorted(p.relative_to(run_dir) for p in (run_dir / "folds").glob("*/*.parquet"))


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory, features):
    run_dir = tmp_path_factory.mktemp("run")
    search = new_search(run_dir, features)
    run_serial(search, device="cpu")
    return run_dir, search


def test_every_configuration_has_one_fold_per_subject(finished_run, features):
    run_dir, search = finished_run
    assert len(fold_files(run_dir)) == 2 * len(features.subjects)
    predictions = search.all_predictions()
    assert len(predictions) == 2 * len(features)
    assert not predictions.duplicated(["config_id", "sample"]).any()
    assert search.next_fold() is Schedule.DONE


def test_optuna_is_told_the_pooled_objective_not_a_fold_mean(finished_run):
    run_dir, search = finished_run
    study = optuna.load_study(study_name="loso", storage=f"sqlite:///{run_dir / 'optuna.db'}")
    assert [t.state for t in study.trials] == [optuna.trial.TrialState.COMPLETE] * 2
    for trial in study.trials:
        config_id = trial.user_attrs["config_id"]
        predictions = search.config_predictions(config_id)
        pooled = score_predictions(predictions)
        assert trial.value == pytest.approx(pooled["uar"])
        assert trial.user_attrs["uf1"] == pytest.approx(pooled["uf1"])
        assert trial.user_attrs["uar_d1"] == pytest.approx(pooled["uar_d1"])


def test_labels_are_joined_by_the_driver_from_its_own_copy(finished_run, features):
    _, search = finished_run
    predictions = search.all_predictions()
    truth = features.meta.set_index("sample_id")["label"]
    assert (predictions["y_true"].to_numpy() == truth.loc[predictions["sample"]].to_numpy()).all()


def test_leaderboard_has_scores_slices_and_parameters(finished_run):
    _, search = finished_run
    board = search.leaderboard()
    assert board["uar"].is_monotonic_decreasing
    for column in ("uar", "uf1", "accuracy", "uar_d1", "uf1_d2", "param_lr", "param_model"):
        assert column in board


def test_resume_runs_only_the_missing_folds_and_pools_identically(tmp_path, features, finished_run):
    reference_dir, reference = finished_run
    run_dir = tmp_path / "run"
    first = new_search(run_dir, features)
    # the "interrupted" run finishes two folds, hands out a third, then dies
    for _ in range(2):
        task = first.next_fold()
        r = run_task(task, features, "cpu")
        first.complete_fold(task, r.sample_ids, r.y_pred.tolist(), r.scores.tolist())
    first.next_fold()
    done_before = {p: (run_dir / p).stat().st_mtime_ns for p in fold_files(run_dir)}
    del first

    resumed = new_search(run_dir, features)
    handed_out = []
    original = resumed.next_fold

    def counting():
        task = original()
        if not isinstance(task, Schedule):
            handed_out.append((task.config_id, task.fold.name))
        return task

    resumed.next_fold = counting
    run_serial(resumed, device="cpu")
    assert len(handed_out) == 2 * len(features.subjects) - 2  # no finished fold runs twice
    assert {p: (run_dir / p).stat().st_mtime_ns for p in done_before} == done_before
    a = resumed.leaderboard().set_index("config_id")[["uar", "uf1", "param_lr"]].sort_index()
    b = reference.leaderboard().set_index("config_id")[["uar", "uf1", "param_lr"]].sort_index()
    pd.testing.assert_frame_equal(a, b)


def test_a_failed_fold_fails_its_configuration_only(tmp_path, features):
    search = new_search(tmp_path, features, n_trials=1)
    task = search.next_fold()
    search.fail_fold(task, "worker died\nRuntimeError: boom")
    study = optuna.load_study(study_name="loso", storage=f"sqlite:///{tmp_path / 'optuna.db'}")
    assert study.trials[0].state == optuna.trial.TrialState.FAIL
    assert "boom" in study.trials[0].user_attrs["error"]
    assert search.next_fold() is Schedule.DONE


def test_bad_objective_and_trial_count_are_refused(tmp_path, features):
    with pytest.raises(ValueError, match="objective must be one of"):
        new_search(tmp_path, features, objective="auc")
    with pytest.raises(ValueError, match="n_trials must be >= 1"):
        new_search(tmp_path, features, n_trials=0)
