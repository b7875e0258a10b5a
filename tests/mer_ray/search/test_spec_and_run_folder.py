"""RunSpec from the command line and back from run.json; the run folder's layout and atomic writes."""

import json

import pandas as pd

from mer_ray.loso import build_parser
from mer_ray.search.run_folder import RunFolder
from mer_ray.search.spec import SMOKE_OVERRIDES, SMOKE_TRIALS, RunSpec
from search_spaces import get_space
from tests.mer_ray._synthetic import synthetic_features


def test_spec_from_args_round_trips_through_run_json(tmp_path):
    features = synthetic_features(n_subjects=3, clips=2, datasets=("d1", "d2"))
    args = build_parser().parse_args(["--search", "vit", "--smoke-test", "--seed", "4", "--objective", "uf1",
                                      "--pretrained-from", str(tmp_path / "pre")])
    spec = RunSpec.from_args(args, get_space("vit"), features)
    assert spec.trials == SMOKE_TRIALS and spec.seed == 4 and spec.objective == "uf1"
    assert spec.overrides == {**SMOKE_OVERRIDES, "pretrained_from": str((tmp_path / "pre").resolve())}
    assert spec.subjects == 3 and spec.datasets == ["d1", "d2"] and not spec.demo_space
    spec.to_json(tmp_path / "run.json")
    assert RunSpec.from_json(tmp_path / "run.json") == spec
    assert json.loads((tmp_path / "run.json").read_text())["space"] == "vit"


def test_a_fixed_space_runs_one_configuration_and_resume_changes_only_resources(tmp_path):
    features = synthetic_features(n_subjects=2, clips=2, datasets=("d",))
    args = build_parser().parse_args(["--search", "paper", "--trials", "5"])
    spec = RunSpec.from_args(args, get_space("paper"), features)
    assert spec.trials == 1
    moved = spec.with_resources(2.0, 0.5)
    assert (moved.cpus_per_trial, moved.gpus_per_trial) == (2.0, 0.5) and moved.trials == spec.trials


def test_run_folder_layout_and_atomic_fold_files(tmp_path):
    folder = RunFolder(tmp_path / "run").make()
    folder.write_config("c000", {"lr": 0.001})
    assert folder.read_config("c000") == {"lr": 0.001} and folder.read_config("c009") is None
    frame = pd.DataFrame({"sample": ["a", "b"], "y_pred": [0, 1]})
    folder.write_fold(frame, "c000", "casme2/sub01")
    assert folder.fold_path("c000", "casme2/sub01").name == "casme2__sub01.parquet"
    assert folder.has_fold("c000", "casme2/sub01") and folder.count_folds() == 1
    pd.testing.assert_frame_equal(folder.fold_predictions("c000"), frame)
    assert folder.config_ids_with_folds() == ["c000"]
    assert not list(folder.root.rglob("*.tmp-*"))  # nothing half-written is left behind
    assert folder.nested("s/1").root == folder.root / "nested" / "s__1"
