"""A fold's method record (``FoldResult.details``) reaches the run folder and the report: a portfolio's members
and weights per fold, also after a resume."""

import pandas as pd

from mer_ray.evaluation.metrics import score_predictions
from mer_ray.evaluation.report import write_report
from mer_ray.search.scheduler import LosoSearch, run_serial
from mer_ray.search.spec import RunSpec
from search_spaces.space import SearchSpace
from tests.mer_ray._synthetic import synthetic_features

PROBE = {"method": "linear_probe", "pool": 16, "classifier": "logreg", "c": 0.0}
RECIPE = {"method": "portfolio", "members": ["probe", "hoof"], "inner_folds": 2,
          "recipes": {"probe": PROBE, "hoof": {"method": "hoof"}}}


def test_portfolio_details_are_kept_per_fold_and_shown_in_the_report(tmp_path):
    features = synthetic_features(n_subjects=3, clips=6, size=64, seed=2)
    space = SearchSpace.of_recipe("pf", RECIPE)
    search = LosoSearch(tmp_path / "run", space, features, n_trials=1, seed=3, log=lambda _: None)
    run_serial(search, device="cpu")
    details = search.folder.fold_details("c000")
    assert sorted(details) == sorted(features.subjects)
    for subject, d in details.items():
        assert set(d["portfolio"]["weights"]) == {"probe", "hoof"}
        assert subject not in {s for group in d["inner_groups"].values() for s in group}
    predictions = search.all_predictions()
    board = pd.DataFrame([{"config_id": "c000", "state": "COMPLETE", **score_predictions(predictions)}])
    text = write_report(search.folder, board, predictions, RunSpec(space="pf", features="/f", trials=1),
                        n_boot=20).read_text()
    assert "## Portfolio: members and combination" in text
    assert "| probe |" in text and "| hoof |" in text and "| combination |" in text
    for subject in features.subjects:
        assert f"| {subject} |" in text
    # a resumed run reads the same records back (nothing re-runs)
    again = LosoSearch(tmp_path / "run", space, features, n_trials=1, seed=3, log=lambda _: None)
    assert again.folder.fold_details("c000") == details


def test_a_fold_without_details_writes_no_record(tmp_path):
    features = synthetic_features(n_subjects=3, clips=3, size=64, seed=2)
    search = LosoSearch(tmp_path / "run", SearchSpace.of_recipe("probe", PROBE), features, n_trials=1, seed=3,
                        log=lambda _: None)
    run_serial(search, device="cpu")
    assert search.folder.fold_details("c000") == {}
    assert not list((tmp_path / "run" / "folds").glob("*/*.details.json"))


def test_the_tune_searcher_hands_a_trials_details_to_the_scheduler(tmp_path):
    import json

    import numpy as np

    from mer_ray.methods import run_task
    from mer_ray.search.tune import FoldSearcher, _plain

    features = synthetic_features(n_subjects=3, clips=6, size=64, seed=2)
    search = LosoSearch(tmp_path / "run", SearchSpace.of_recipe("pf", RECIPE), features, n_trials=1, seed=3,
                        log=lambda _: None)
    searcher = FoldSearcher(search, threads=1, gpus=0)
    config = searcher.suggest("trial-1")
    result = run_task(searcher.running["trial-1"], features, "cpu")
    payload = {"sample_ids": result.sample_ids, "y_pred": result.y_pred.tolist(), "scores": result.scores.tolist(),
               "details": {**result.details, "extra": np.float32(0.5)}}  # numpy values are written as numbers
    searcher.on_trial_complete("trial-1", {"predictions": json.dumps(payload, default=_plain), "fold_seconds": 1.0})
    details = search.folder.fold_details("c000")
    assert list(details) == [config["fold"]["fold"]]
    record = details[config["fold"]["fold"]]
    assert record["extra"] == 0.5 and record["portfolio"] == json.loads(json.dumps(result.details["portfolio"]))
