"""The Ray Tune layer on a real local cluster: short folds still run as many at a time as the cluster can."""

import pandas as pd
import pytest

from mer_ray.search import LosoSearch
from mer_ray.tune import run_tune
from search_spaces import get_space
from tests.mer_ray._synthetic import synthetic_features

pytestmark = pytest.mark.ray


def test_folds_shorter_than_an_actor_start_still_run_in_parallel(tmp_path, ray_local):
    """Tune keeps one trial pending for a custom searcher by default: sub-second folds then ran one at a time,
    all in one process. ``run_tune`` lets as many be pending as can run (2 CPUs here)."""
    features = synthetic_features(n_subjects=4, clips=3, size=16)
    search = LosoSearch(tmp_path / "run", get_space("hoof"), features, n_trials=1, log=lambda _: None,
                        max_open_configs=1)
    run_tune(search, cpus_per_trial=1.0)
    trials = pd.read_csv(search.folder.trials_csv)
    assert len(trials) == 4 and trials["pid"].nunique() == 2
    assert sorted(search.all_predictions()["sample"]) == sorted(features.meta["sample_id"])
