"""Cross-dataset protocols without Ray: a leave-one-dataset-out search, its run spec and its report."""

import json

import pandas as pd
import pytest

from mer_ray.evaluation.folds import dataset_folds
from mer_ray.loso import EVALUATION_PROTOCOLS as CLI_PROTOCOLS
from mer_ray.loso import build_parser
from mer_ray.search.scheduler import LosoSearch, Schedule, run_serial
from mer_ray.search.spec import RunSpec
from tests.mer_ray import _spaces
from tests.mer_ray._synthetic import synthetic_features

DATASETS = ("d1", "d2", "d3")


@pytest.fixture(scope="module")
def features():
    return synthetic_features(n_subjects=6, clips=3, datasets=DATASETS)  # 2 subjects x 3 clips per dataset


@pytest.fixture(scope="module")
def lodo_run(tmp_path_factory, features):
    run_dir = tmp_path_factory.mktemp("lodo")
    search = LosoSearch(run_dir, _spaces.SPACE, features, n_trials=1, seed=7, folds=dataset_folds(features),
                        log=lambda _: None)
    run_serial(search, device="cpu")
    return run_dir, search


def test_a_lodo_search_runs_one_fold_per_dataset_and_pools_every_clip_once(lodo_run, features):
    run_dir, search = lodo_run
    assert search.folds_total == len(DATASETS)
    assert sorted(p.name for p in (run_dir / "folds" / "c000").glob("*.parquet")) == [f"{d}.parquet" for d in DATASETS]
    predictions = search.all_predictions()
    assert sorted(predictions["sample"]) == sorted(features.meta["sample_id"])  # every clip, once
    for dataset, part in predictions.groupby("fold"):  # each fold predicted its own dataset only
        assert set(part["dataset"]) == {dataset}
    truth = features.meta.set_index("sample_id")["label"]
    assert (predictions["y_true"].to_numpy() == truth.loc[predictions["sample"]].to_numpy()).all()
    board = search.leaderboard()
    assert board.loc[0, "state"] == "COMPLETE"
    assert {f"uar_{d}" for d in DATASETS} <= set(board.columns)  # one slice per held-out dataset
    assert search.next_fold() is Schedule.DONE


def test_the_run_spec_records_the_protocol_and_old_run_json_files_are_loso(tmp_path, features):
    parser = build_parser()
    args = parser.parse_args(["--search", "vit", "--protocol", "lodo"])
    spec = RunSpec.from_args(args, _spaces.SPACE, features)
    assert (spec.protocol, spec.test_dataset) == ("lodo", None)
    assert [f.name for f in spec.folds(features)] == list(DATASETS)
    spec.to_json(tmp_path / "run.json")
    assert RunSpec.from_json(tmp_path / "run.json") == spec
    args = parser.parse_args(["--search", "vit", "--test-dataset", "d2"])  # implies lodo
    spec = RunSpec.from_args(args, _spaces.SPACE, features)
    assert (spec.protocol, spec.test_dataset) == ("lodo", "d2") and [f.name for f in spec.folds(features)] == ["d2"]
    old = json.loads((tmp_path / "run.json").read_text())
    del old["protocol"], old["test_dataset"]  # a run.json from before the protocols
    (tmp_path / "old.json").write_text(json.dumps(old))
    spec = RunSpec.from_json(tmp_path / "old.json")
    assert spec.protocol == "loso" and len(spec.folds(features)) == len(features.subjects)


def test_protocol_takes_an_evaluation_and_a_labelling_protocol():
    parser = build_parser()
    args = parser.parse_args(["--search", "vit", "--protocol", "megc2019", "--protocol", "lodo"])
    assert (args.protocol, args.eval_protocol) == ("megc2019", "lodo")
    args = parser.parse_args(["--search", "vit"])
    assert (args.protocol, args.eval_protocol, args.test_dataset) == (None, None, None)
    from mer_ray.evaluation.folds import EVALUATION_PROTOCOLS

    assert CLI_PROTOCOLS == EVALUATION_PROTOCOLS


def test_the_report_states_the_protocol_and_a_row_per_held_out_dataset(lodo_run, features):
    from mer_ray.evaluation.report import write_report

    _, search = lodo_run
    spec = RunSpec(space="test", features="/features", protocol="lodo", datasets=list(DATASETS),
                   subjects=len(features.subjects))
    report = write_report(search.folder, search.leaderboard(), search.all_predictions(), spec, n_boot=50)
    lines = report.read_text().splitlines()
    assert lines[2].startswith("Protocol: leave one dataset out (3 folds: d1, d2, d3)")
    text = "\n".join(lines)
    assert "## Scores per held-out dataset" in text and "| held-out dataset | n |" in text
    for dataset in DATASETS:
        assert any(line.startswith(f"| {dataset} | 6 |") for line in lines)
    one = RunSpec(space="test", features="/features", protocol="lodo", test_dataset="d3", datasets=list(DATASETS))
    assert one.describe_protocol().startswith("train on d1, d2, test on d3")
    loso = RunSpec(space="test", features="/features", datasets=list(DATASETS), subjects=6)
    assert loso.describe_protocol() == "leave one subject out (LOSO: 6 folds, one per subject)"


def test_the_probe_reference_runs_on_the_same_dataset_folds(tmp_path, features, monkeypatch):
    """Every report's linear probe: on the run's own folds (here the one fold of a test dataset), not LOSO."""
    import mer_ray.search.tune
    from mer_ray.search.reference_probe import run_probe
    from mer_ray.search.run_folder import RunFolder

    monkeypatch.setattr(mer_ray.search.tune, "run_tune", lambda search, **_: run_serial(search, device="cpu"))
    spec = RunSpec(space="test", features="/features", protocol="lodo", test_dataset="d2", datasets=list(DATASETS))
    board, predictions = run_probe(RunFolder(tmp_path / "run").make(), spec, features)
    assert isinstance(board, pd.DataFrame) and board.loc[0, "state"] == "COMPLETE"
    assert set(predictions["fold"]) == {"d2"} and set(predictions["dataset"]) == {"d2"}
    assert sorted(predictions["sample"]) == sorted(features.meta.loc[features.meta["dataset"] == "d2", "sample_id"])


def test_the_driver_runs_a_lodo_search_and_its_probe_on_the_dataset_folds(tmp_path, features, monkeypatch, capsys):
    """``run_loso`` (what ``python -m mer_ray.loso --protocol lodo`` runs), with Ray Tune replaced by the plain loop."""
    import mer_ray.search.tune
    from mer_ray.search.loso_search_run import run_loso
    from mer_ray.search.run_folder import RunFolder

    monkeypatch.setattr(mer_ray.search.tune, "run_tune", lambda search, **_: run_serial(search, device="cpu"))
    spec = RunSpec(space="test", features="/features", protocol="lodo", datasets=list(DATASETS),
                   subjects=len(features.subjects))
    folder = RunFolder(tmp_path / "run").make()
    assert run_loso(folder, spec, _spaces.SPACE, features, slots=2) == 0
    predictions = pd.read_parquet(folder.predictions)
    assert sorted(predictions["fold"].unique()) == list(DATASETS) and predictions["sample"].is_unique
    probe = pd.concat(pd.read_parquet(p) for p in (folder.root / "reference" / "probe" / "folds").glob("*/*.parquet"))
    assert sorted(probe["fold"].unique()) == list(DATASETS)  # the probe ran on the same dataset folds
    report = folder.report.read_text()
    assert "Protocol: leave one dataset out (3 folds: d1, d2, d3)" in report
    assert "ran on the same leave-one-dataset-out folds" in report and "## Scores per held-out dataset" in report
    assert "linear probe (reference) on the same dataset folds" in capsys.readouterr().out
