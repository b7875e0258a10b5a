"""`python -m mer_ray.fit`: one configuration on every subject, from a space (+ --set) or from a finished run."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from mer_ray.deploy.bundle_load import load_bundle
from mer_ray.deploy.network_fit import fit_all
from mer_ray.fit import main
from mer_ray.search.spec import RunSpec
from mer_ray.training.config import TrainConfig
from preprocessing.features import shards
from search_spaces import get_space
from tests.mer_ray._demo_bundle import demo_bundle, demo_features
from tests.mer_ray._synthetic import synthetic_features

pytestmark = pytest.mark.ray


@pytest.fixture(scope="module")
def features(tmp_path_factory, small_demo, ray_local):
    return demo_features(tmp_path_factory.getbasetemp(), small_demo)


@pytest.fixture(scope="module")
def bundle(tmp_path_factory, small_demo, ray_local):
    return demo_bundle(tmp_path_factory.getbasetemp(), small_demo)


def test_fit_from_a_space_records_everything_a_user_needs(bundle, features):
    info = json.loads((bundle / "bundle.json").read_text())
    manifest = shards.read_manifest(features)
    expected = TrainConfig.from_dict({**get_space("ensemble").fixed, "epochs": 3}).to_dict()
    assert info["train_config"] == expected and info["epochs_used"] == 3
    assert info["preprocess"]["config_hash"] == manifest["config_hash"]
    assert info["preprocess"]["config"] == manifest["config"]
    assert info["features"]["content_hash"] == manifest["content_hash"] and info["features"]["clips"] == 9
    assert info["labels"] == ["negative", "positive", "surprise"]
    assert info["source"] == {"kind": "space", "space": "ensemble", "settings": {"epochs": 3}}
    assert info["kind"] == "network" and len(info["members"]) == 5
    assert info["loso"] is None
    assert {"opencv", "dlib"} <= set(info["versions"]["preprocessing"]) and "torch" in info["versions"]
    assert len(info["members"][0]["mean"]) == 3  # u, v, strain statistics of the training clips
    card = (bundle / "README.md").read_text()
    assert "not measured" in card and "DEMO" in card


def test_unknown_set_key_is_a_clear_error_before_any_work(tmp_path, capsys):
    assert main(["--search", "ensemble", "--set", "input_sise=64", "--out", str(tmp_path / "b")]) == 2
    err = capsys.readouterr().err
    assert "unknown training parameters ['input_sise']" in err and "input_size" in err
    assert not (tmp_path / "b").exists()


def test_an_existing_bundle_folder_is_not_overwritten(bundle, tmp_path, capsys):
    assert main(["--search", "ensemble", "--out", str(bundle)]) == 2
    assert "exists and is not empty" in capsys.readouterr().err


def _fake_run(folder, features, trials: int):
    """A finished LOSO run folder: run.json, two configurations and their leaderboard."""
    base = {**get_space("ensemble").fixed, "epochs": 1}
    (folder / "configs").mkdir(parents=True)
    for config_id, epochs in (("c000", 1), ("c001", 2)):
        config = TrainConfig.from_dict({**base, "epochs": epochs}).to_dict()
        (folder / "configs" / f"{config_id}.json").write_text(json.dumps(config))
    pd.DataFrame([{"config_id": "c001", "state": "COMPLETE", "uar": 0.7, "uf1": 0.65, "accuracy": 0.72,
                   "uar_demo": 0.7, "uf1_demo": 0.65},
                  {"config_id": "c000", "state": "COMPLETE", "uar": 0.5, "uf1": 0.45, "accuracy": 0.55,
                   "uar_demo": 0.5, "uf1_demo": 0.45}]).to_csv(folder / "leaderboard.csv", index=False)
    RunSpec(space="ensemble", features=str(features), trials=trials).to_json(folder / "run.json")
    return folder


def test_fit_from_a_run_takes_its_best_configuration_features_and_optimistic_score(features, tmp_path):
    run = _fake_run(tmp_path / "run", features, trials=2)
    assert main(["--from-run", str(run), "--out", str(tmp_path / "best")]) == 0
    info = json.loads((tmp_path / "best" / "bundle.json").read_text())
    assert info["source"]["config_id"] == "c001" and info["train_config"]["epochs"] == 2
    assert info["loso"]["uar"] == 0.7 and info["loso"]["uar_demo"] == 0.7 and info["loso"]["optimistic"] is True
    assert info["features"]["folder"] == str(features)
    assert "OPTIMISTIC" in (tmp_path / "best" / "README.md").read_text()


def test_fit_from_a_run_by_id_and_with_set_drops_a_score_that_no_longer_applies(features, tmp_path):
    run = _fake_run(tmp_path / "run", features, trials=1)
    assert main(["--from-run", str(run), "--config", "c000", "--out", str(tmp_path / "c000")]) == 0
    info = json.loads((tmp_path / "c000" / "bundle.json").read_text())
    assert info["loso"]["uar"] == 0.5 and info["loso"]["optimistic"] is False
    assert main(["--from-run", str(run), "--config", "c000", "--set", "epochs=2", "--out", str(tmp_path / "set")]) == 0
    info = json.loads((tmp_path / "set" / "bundle.json").read_text())
    assert info["loso"] is None and info["train_config"]["epochs"] == 2
    assert any("does not apply" in note for note in info["notes"])


def test_from_run_errors_name_the_problem(features, tmp_path, capsys):
    run = _fake_run(tmp_path / "run", features, trials=1)
    assert main(["--from-run", str(run), "--config", "c009", "--out", str(tmp_path / "x")]) == 2
    assert "no configuration 'c009'; it has c000, c001" in capsys.readouterr().err
    assert main(["--from-run", str(tmp_path), "--out", str(tmp_path / "y")]) == 2
    assert "run.json not found" in capsys.readouterr().err


def test_inner_epoch_selection_chooses_on_held_back_subjects_then_fits_every_clip():
    data = synthetic_features(n_subjects=4, clips=6, size=16)
    config = TrainConfig.from_dict({"model": "shufflenet_v2", "input_size": 8, "pretrain": False, "epochs": 3,
                                    "batch_size": 8, "classifier": "softmax", "epoch_selection": "inner",
                                    "inner_fraction": 0.25, "model_options": {"width": 0.5, "stem": "small",
                                                                              "repeats": [1, 1, 1], "conv5": 16}})
    model = fit_all(config, data, seed=1, device="cpu")
    assert 1 <= model.epochs <= 3 and len(model.history["inner_uar"]) == 3
    assert model.scores.shape == (len(data), 3) and np.allclose(model.scores.sum(axis=1), 1, atol=1e-5)


def test_the_fitted_bundle_loads_and_scores_its_training_clips(bundle, features):
    from mer_ray.data.features import load_features

    loaded = load_bundle(bundle)
    y_pred, scores = loaded.predict(load_features(features))
    assert scores.shape == (9, 3) and set(y_pred) <= {0, 1, 2}
