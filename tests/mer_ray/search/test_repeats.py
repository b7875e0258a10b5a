"""--repeats: one fixed configuration trained N times with other seeds; the report gives mean +- std and a paired
interval against the probe that holds every repeat."""

import pandas as pd

from mer_ray.evaluation.metrics import paired_bootstrap, repeated_paired_bootstrap, score_predictions
from mer_ray.evaluation.report import repeats_summary, write_report
from mer_ray.search.scheduler import LosoSearch, run_serial
from mer_ray.search.spec import RunSpec
from search_spaces.space import SearchSpace
from tests.mer_ray._synthetic import synthetic_features

PROBE = {"method": "linear_probe", "pool": 16, "classifier": "logreg", "c": 0.0}
TINY_NET = {"method": "network", "model": "shufflenet_v2", "modality": "flow", "input_size": 16, "pretrain": False,
            "classifier": "softmax", "epochs": 2, "batch_size": 8, "ensemble": 1,
            "model_options": {"width": 0.5, "stem": "small", "repeats": [1, 1, 1], "conv5": 16, "pool": "grid",
                              "grid": 2, "skip": 16}}


def _board(search) -> pd.DataFrame:
    rows = []
    for config_id, part in search.all_predictions().groupby("config_id"):
        rows.append({"config_id": config_id, "state": "COMPLETE", **score_predictions(part)})
    return pd.DataFrame(rows).sort_values("uar", ascending=False).reset_index(drop=True)


def test_repeats_are_one_configuration_with_other_seeds_and_the_report_gives_mean_and_std(tmp_path):
    features = synthetic_features(n_subjects=3, clips=6, size=16, seed=5)
    probe = LosoSearch(tmp_path / "probe", SearchSpace.of_recipe("probe", PROBE), features, n_trials=1, seed=2,
                       log=lambda _: None)
    run_serial(probe, device="cpu")
    search = LosoSearch(tmp_path / "run", SearchSpace.of_recipe("net", TINY_NET), features, n_trials=3, seed=2,
                        log=lambda _: None)
    seeds = {}
    original = search.next_fold

    def record():
        task = original()
        if hasattr(task, "seed"):
            seeds.setdefault(task.config_id, set()).add(task.seed)
        return task

    search.next_fold = record
    run_serial(search, device="cpu")
    configs = [search.folder.read_config(c) for c in ("c000", "c001", "c002")]
    assert configs[0] == configs[1] == configs[2]  # the same configuration three times
    assert len(set.union(*seeds.values())) == 3 * len(features.subjects)  # every repeat's folds on their own seeds
    predictions = search.all_predictions()
    board = _board(search)
    summary = repeats_summary(board, predictions, probe.all_predictions(), n_boot=200, seed=2)
    assert summary.ids == ("c000", "c001", "c002") and len(summary.uar) == 3
    text = write_report(search.folder, board, predictions, RunSpec(space="net", features="/f", repeats=3),
                        probe=probe.all_predictions(), n_boot=50).read_text()
    assert "## Repeats: 3 trainings of one configuration with other seeds" in text and "+- " in text
    assert "## First repeat: `c000`" in text and "Optimistic" not in text
    assert "the same subjects drawn for every repeat and the probe" in text


def test_the_repeated_paired_bootstrap_of_one_repeat_is_the_paired_bootstrap():
    features = synthetic_features(n_subjects=5, clips=6, size=16, seed=1)
    frame = features.meta.rename(columns={"sample_id": "sample", "label": "y_true"})[["sample", "subject", "y_true"]]
    a = frame.assign(y_pred=frame["y_true"].to_numpy())
    b = frame.assign(y_pred=(frame["y_true"].to_numpy() + (frame.index.to_numpy() % 3 == 0)) % 3)
    c = frame.assign(y_pred=(frame["y_true"].to_numpy() + (frame.index.to_numpy() % 2 == 0)) % 3)
    assert repeated_paired_bootstrap([a], b, n_boot=300, seed=4) == paired_bootstrap(a, b, n_boot=300, seed=4)
    diff, low, high = repeated_paired_bootstrap([a, c], b, n_boot=300, seed=4)
    mean = (paired_bootstrap(a, b, n_boot=10)[0] + paired_bootstrap(c, b, n_boot=10)[0]) / 2
    assert abs(diff - mean) < 1e-12 and low <= diff <= high
