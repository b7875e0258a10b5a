"""Model bundles: the SVC as arrays, the round trip of a fitted model, and what loading refuses."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from mer_ray.deploy.bundle import BUNDLE_JSON, FORMAT_VERSION, BundleError
from mer_ray.deploy.bundle_load import load_bundle
from mer_ray.deploy.bundle_save import save_bundle
from mer_ray.deploy.network_fit import fit_all
from mer_ray.deploy.svc_arrays import ArraySVC
from mer_ray.training.classifiers import decision_scores
from mer_ray.training.config import TrainConfig
from tests.mer_ray._synthetic import synthetic_features

TINY = {"model": "shufflenet_v2", "input_size": 8, "pretrain": False, "epochs": 1, "batch_size": 8,
        "model_options": {"width": 0.5, "stem": "small", "repeats": [1, 1, 1], "conv5": 16}}


@pytest.mark.parametrize("kernel", ["linear", "rbf"])
@pytest.mark.parametrize("classes", [(0, 1, 2), (0, 2)])
def test_svc_arrays_rebuild_sklearns_decision_and_vote(kernel, classes, rng):
    x = rng.normal(size=(80, 6))
    y = np.asarray(classes)[rng.integers(0, len(classes), 80)]
    x[:, 0] += y
    pipeline = make_pipeline(StandardScaler(), SVC(kernel=kernel, gamma=1 / 6, class_weight="balanced",  # numeric,
                                                   decision_function_shape="ovr")).fit(x, y)  # as SVCClassifier's
    svc = ArraySVC.from_pipeline(pipeline)
    stored = ArraySVC.from_arrays(svc.to_arrays(), json.loads(json.dumps(svc.params())))  # through JSON and arrays
    test = rng.normal(size=(40, 6)) * 2
    np.testing.assert_allclose(stored.scores(test), decision_scores(pipeline, test), atol=1e-6)
    np.testing.assert_array_equal(stored.predict(test), pipeline.predict(test))


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    data = synthetic_features(n_subjects=3, clips=6, size=16)
    config = TrainConfig.from_dict({**TINY, "classifier": "svc"})
    model = fit_all(config, data, seed=0, device="cpu")
    out = save_bundle(tmp_path_factory.mktemp("bundles") / "svc", config=model.config, members=model.members,
                      features=data, epochs=model.epochs, seed=0, source={"kind": "space", "space": "test"},
                      loso=None)
    return data, model, out


def test_a_saved_bundle_scores_as_the_fitted_model_did(fitted):
    data, model, out = fitted
    bundle = load_bundle(out)
    _, scores = bundle.predict(data)
    np.testing.assert_allclose(scores, model.scores, atol=1e-6)
    info = json.loads((out / BUNDLE_JSON).read_text())
    assert info["format_version"] == FORMAT_VERSION
    assert info["train_config"]["classifier"] == "svc" and info["labels"] == ["negative", "positive", "surprise"]
    assert info["members"][0]["svc"]["kernel"] == "linear" and len(info["members"][0]["mean"]) == 3
    assert {"torch", "numpy", "scikit-learn", "mer-ray"} <= set(info["versions"])
    assert (out / "README.md").read_text().startswith("# mer-ray model bundle")


@pytest.mark.parametrize("options", [
    {"classifier": "hinge", "modality": "apex", "pretrain": True, "pretrain_epochs": 1},  # the paper's shape
    {"classifier": "softmax", "ensemble": 2, "flow_norm": "clip", "apply_mask": False, "aug_flip": 0.5,
     "tta_flip": True},
    {"classifier": "svc", "svc_kernel": "rbf", "model": "shufflenet_v2_vit", "model_options": {"vit_dim": 16},
     "tta_flip": True},
], ids=["paper-hinge-apex", "ensemble", "rbf-svc-vit"])
def test_every_classifier_and_modality_round_trips(options, tmp_path):
    data = synthetic_features(n_subjects=3, clips=6, size=16, seed=3)
    config = TrainConfig.from_dict({**TINY, **options})
    model = fit_all(config, data, seed=2, device="cpu")
    out = save_bundle(tmp_path / "b", config=model.config, members=model.members, features=data,
                      epochs=model.epochs, seed=2, source={"kind": "space", "space": "test"}, loso=None)
    bundle = load_bundle(out)
    assert len(bundle.members) == config.ensemble
    np.testing.assert_allclose(bundle.predict(data)[1], model.scores, atol=1e-6)


def test_weights_are_plain_tensors_and_the_svc_plain_arrays(fitted):
    _, _, out = fitted
    state = torch.load(out / "network_0.pt", weights_only=True)  # no code is unpickled
    assert all(isinstance(v, torch.Tensor) for v in state.values())
    with np.load(out / "svc_0.npz", allow_pickle=False) as arrays:
        assert {"support_vectors", "dual_coef", "intercept", "mean", "scale"} <= set(arrays.files)


def _edited(out, tmp_path, edit):
    copy = tmp_path / "edited"
    shutil.copytree(out, copy)
    info = json.loads((copy / BUNDLE_JSON).read_text())
    edit(info, copy)
    (copy / BUNDLE_JSON).write_text(json.dumps(info))
    return copy


def test_another_format_version_is_refused_with_the_reason(fitted, tmp_path):
    copy = _edited(fitted[2], tmp_path, lambda info, _: info.update(format_version=FORMAT_VERSION + 1))
    with pytest.raises(BundleError, match=f"bundle format version {FORMAT_VERSION + 1}, this mer-ray reads version "
                                          f"{FORMAT_VERSION}; refit it"):
        load_bundle(copy)


def test_preprocessing_this_version_would_not_reproduce_is_refused(fitted, tmp_path):
    copy = _edited(fitted[2], tmp_path, lambda info, _: info["preprocess"].update(config_hash="0123456789abcdef"))
    with pytest.raises(BundleError, match="incompatible preprocessing: the bundle was made with preprocessing "
                                          "0123456789abcdef"):
        load_bundle(copy)
    unknown = _edited(fitted[2], tmp_path / "b", lambda info, _: info["preprocess"]["config"]["flow"].update(bogus=1))
    with pytest.raises(BundleError, match="this version cannot read its configuration"):
        load_bundle(unknown)


def test_changed_or_missing_files_are_refused(fitted, tmp_path):
    copy = _edited(fitted[2], tmp_path, lambda info, folder: (folder / "network_0.pt").write_bytes(b"x"))
    with pytest.raises(BundleError, match="network_0.pt changed since the bundle was written"):
        load_bundle(copy)
    with pytest.raises(BundleError, match="does not exist; make one with `python -m mer_ray.fit"):
        load_bundle(tmp_path / "nowhere")
    with pytest.raises(BundleError, match="is not a model bundle"):
        load_bundle(tmp_path)


@pytest.mark.parametrize("args", [["--model", "NOWHERE", "clip"], ["--model", "EMPTY", "clip"]])
def test_predict_without_a_usable_bundle_exits_2_with_one_line(args, tmp_path, capsys):
    from mer_ray.predict import main

    (tmp_path / "EMPTY").mkdir()
    args = [str(tmp_path / a) if a in ("NOWHERE", "EMPTY") else a for a in args]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and err.startswith("error: ") and "Traceback" not in err
