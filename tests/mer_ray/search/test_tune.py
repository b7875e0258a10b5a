"""The Ray Tune layer on a real local cluster: folds run as many at a time as the cluster can."""

import os

import pandas as pd
import pytest

from mer_ray.search.scheduler import LosoSearch
from mer_ray.search.tune import run_tune
from search_spaces import get_space
from tests.mer_ray import _spaces
from tests.mer_ray._synthetic import synthetic_features

pytestmark = pytest.mark.ray


def test_tune_may_keep_as_many_trials_pending_as_can_run(tmp_path, ray_local):
    """Tune keeps ONE trial pending for a custom searcher by default: sub-second folds then ran one at a time, all
    in one process. ``run_tune`` lets as many be pending as can run now (2 CPUs here), unless the user set it."""
    features = synthetic_features(n_subjects=4, clips=3, size=16)
    search = LosoSearch(tmp_path / "run", get_space("hoof"), features, n_trials=1, log=lambda _: None,
                        max_open_configs=1)
    run_tune(search, cpus_per_trial=1.0)
    assert os.environ["TUNE_MAX_PENDING_TRIALS_PG"] == "2"
    assert len(pd.read_csv(search.folder.trials_csv)) == 4
    assert sorted(search.all_predictions()["sample"]) == sorted(features.meta["sample_id"])


def test_folds_of_a_few_seconds_run_two_at_a_time_in_two_processes(tmp_path, ray_local):
    """Two trial processes share the folds. (Sub-second folds may all land on whichever actor was ready first:
    a cold actor's start varies by more than such a fold lasts, so this check uses folds of a few seconds.)"""
    features = synthetic_features(n_subjects=6, clips=3, size=16)
    search = LosoSearch(tmp_path / "run", _spaces.SPACE.with_fixed(epochs=30), features, n_trials=1,
                        log=lambda _: None, max_open_configs=1)
    run_tune(search, cpus_per_trial=1.0)
    trials = pd.read_csv(search.folder.trials_csv)
    assert len(trials) == 6 and trials["pid"].nunique() == 2
