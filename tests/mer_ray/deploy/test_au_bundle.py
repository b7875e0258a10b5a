"""AU bundles (`python -m mer_ray.fit --task au`): a network, the linear probe and a portfolio fitted on every clip
read back to the fitted models' probabilities, `predict`'s AU columns, and what is refused."""

from __future__ import annotations

import dataclasses
import json
import shutil

import numpy as np
import pandas as pd
import pytest
import torch

from mer_ray.deploy.bundle import BUNDLE_JSON, BundleError
from mer_ray.deploy.bundle_load import load_bundle
from mer_ray.deploy.bundle_save import save_bundle
from mer_ray.deploy.network_fit import fit_all
from mer_ray.deploy.portfolio_bundle import member_probabilities
from mer_ray.deploy.portfolio_fit import fit_portfolio
from mer_ray.deploy.portfolio_save import save_portfolio
from mer_ray.deploy.probe_bundle import ProbeBundle, fit_probe, save_probe
from mer_ray.evaluation.au_task import AU_COLUMN, SKIPPED, AuTask, au_matrix
from mer_ray.fit import main as fit_main
from mer_ray.methods import parse_config
from mer_ray.predict import main as predict_main
from mer_ray.training.config import TrainConfig
from tests.mer_ray._synthetic import synthetic_features, write_features_folder

TINY = {"model": "shufflenet_v2", "input_size": 8, "pretrain": False, "epochs": 1, "batch_size": 8,
        "classifier": "softmax", "model_options": {"width": 0.5, "stem": "small", "repeats": [1, 1, 1], "conv5": 16}}
PROBE = {"method": "linear_probe", "pool": 16, "classifier": "logreg", "c": 0.1}
TASK = AuTask((1, 2, 4, 9, 12, 14), 3)
NAMES = ["AU1", "AU2", "AU4", "AU9", "AU12", "AU14"]
SOURCE = {"kind": "space", "space": "test"}


def au_data():
    """Synthetic clips whose AU codes follow their class (12 / 1+2 / 4+7), plus AU9 on three clips of subject
    s00 only (detected on all clips, skipped by a subject group trained without s00) and AU14 on two clips (too
    few positives: skipped everywhere)."""
    data = synthetic_features(n_subjects=4, clips=6, size=16, landmarks=True)
    meta = data.meta.copy()
    for sample, extra in (("d1/s00/clip0", 9), ("d1/s00/clip1", 9), ("d1/s00/clip2", 9), ("d1/s01/clip0", 14),
                          ("d1/s01/clip1", 14)):
        row = meta.index[meta["sample_id"] == sample][0]
        meta.loc[row, AU_COLUMN] = f"{meta.loc[row, AU_COLUMN]}+{extra}"
    return dataclasses.replace(data, meta=meta)


def truth(data) -> np.ndarray:
    return au_matrix(data.meta[AU_COLUMN].tolist(), TASK.aus)


def assert_same_probabilities(actual, expected, atol=1e-5):
    np.testing.assert_array_equal(np.isnan(actual), np.isnan(expected))  # a skipped AU stays NaN
    np.testing.assert_allclose(np.nan_to_num(actual), np.nan_to_num(expected), atol=atol)


@pytest.fixture(scope="module")
def network(tmp_path_factory):
    data = au_data()
    config = TrainConfig.from_dict({**TINY, "ensemble": 2, "tta_flip": True})
    model = fit_all(config, data, seed=0, device="cpu", au=TASK)
    out = save_bundle(tmp_path_factory.mktemp("au") / "net", config=model.config, members=model.members,
                      features=data, epochs=model.epochs, seed=0, source=SOURCE, loso=None, au=model.au)
    return data, model, out


@pytest.fixture(scope="module")
def probe(tmp_path_factory):
    data = au_data()
    fitted = fit_probe(parse_config(PROBE), data, TASK, seed=0)
    out = save_probe(tmp_path_factory.mktemp("au") / "probe", fitted, features=data, seed=0, source=SOURCE, loso=None)
    return data, fitted, out


def test_a_network_bundle_reads_back_the_fitted_networks_probabilities(network):
    data, model, out = network
    bundle = load_bundle(out)
    assert bundle.task == "au" and bundle.labels == NAMES and len(bundle.members) == 2
    y_pred, scores = bundle.predict(data)
    assert y_pred.shape == scores.shape == (len(data), 6) and scores.dtype == np.float32
    assert_same_probabilities(scores, model.scores)
    assert np.isnan(scores[:, 5]).all() and (y_pred[:, 5] == SKIPPED).all()  # AU14: 2 positives < 3
    detected = scores[:, :5]
    assert ((detected > 0) & (detected < 1)).all()
    np.testing.assert_array_equal(y_pred[:, :5], (detected > 0.5).astype(np.int64))
    state = torch.load(out / "network_0.pt", weights_only=True)  # one output per AU of the vocabulary
    assert [v.shape[0] for k, v in state.items() if k.endswith("weight")][-1] == 6


def test_the_network_bundle_records_the_aus_thresholds_and_skips(network):
    _, model, out = network
    info = json.loads((out / BUNDLE_JSON).read_text())
    assert info["task"] == "au" and info["kind"] == "network" and info["labels"] == NAMES
    au = info["au"]
    assert au["aus"] == [1, 2, 4, 9, 12, 14] and au["detected"] == NAMES[:5]
    assert au["skipped"] == {"AU14": "2 positive training clips < 3"} and au["min_positives"] == 3
    assert au["thresholds"] == dict.fromkeys(NAMES, 0.5) and au["positives"]["AU9"] == 3 and au["train_clips"] == 24
    card = (out / "README.md").read_text()
    assert "An action-unit detector (AU1, AU2, AU4, AU9, AU12, AU14" in card
    assert "| AU14 | 2 of 24 | 0.5 | skipped: 2 positive training clips < 3 |" in card


def test_a_probe_bundle_reads_back_the_sklearn_probes(probe):
    data, fitted, out = probe
    bundle = load_bundle(out)
    assert isinstance(bundle, ProbeBundle) and bundle.task == "au" and bundle.labels == NAMES
    y_pred, scores = bundle.predict(data)
    assert_same_probabilities(scores, fitted.scores)  # fitted.scores: the sklearn pipelines' predict_proba
    assert sorted(fitted.probe.probes) == sorted(NAMES[:5])
    # the separable synthetic classes: every AU that follows the class is detected on its training clips
    y = truth(data)
    for k in (0, 1, 2, 4):
        assert (y_pred[:, k] == y[:, k]).mean() >= 0.9, NAMES[k]
    info = json.loads((out / BUNDLE_JSON).read_text())
    assert info["kind"] == "probe" and set(info["files"]) == {f"probe_{n}.npz" for n in NAMES[:5]}
    with np.load(out / "probe_AU12.npz", allow_pickle=False) as arrays:  # no pickled object
        assert arrays["coef"].shape == (1, 512) and list(arrays["classes"]) == [0, 1]


def test_a_portfolio_bundle_combines_per_au_and_keeps_each_groups_skips(tmp_path):
    data = au_data()
    config = parse_config({"method": "portfolio", "members": ["probe", "net"], "inner_folds": 2,
                           "recipes": {"probe": PROBE, "net": {**TINY, "method": "network", "input_size": 16}},
                           "crossfit": ["net"]})
    model = fit_portfolio(config, data, seed=0, device="cpu", au=TASK)
    out = save_portfolio(tmp_path / "b", model, features=data, seed=0, source=SOURCE, loso=None)
    bundle = load_bundle(out)
    assert bundle.task == "au" and bundle.labels == NAMES and bundle.au.detected == NAMES[:5]
    y_pred, scores = bundle.predict(data)
    assert_same_probabilities(scores, model.scores)
    order = model.combination.members
    for loaded, fitted in zip(bundle.member_probabilities(data), member_probabilities(model.members, order, data)):
        assert_same_probabilities(loaded, fitted)
    info = json.loads((out / BUNDLE_JSON).read_text())
    groups = info["members"]["net"]["groups_detect"]
    # AU9 is coded on s00 only: the group trained without s00 skips it, the other detects it
    assert sorted("AU9" in g for g in groups) == [False, True]
    assert set(info["members"]["probe"]["arrays"]) == set(NAMES[:5])
    assert abs(sum(info["combination"]["weights"].values()) - 1) < 1e-9
    sub = json.loads((out / "members" / "net" / BUNDLE_JSON).read_text())
    assert sub["task"] == "au" and "AU9" not in sub["au"]["detected"] and "AU9" in sub["au"]["skipped"]


# ---- python -m mer_ray.fit --task au ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return write_features_folder(au_data(), tmp_path_factory.mktemp("au") / "features", {"protocol": "3class"})


def test_fit_task_au_on_the_probe_space_writes_a_checked_au_bundle(folder, tmp_path, capsys):
    out = tmp_path / "b"
    assert fit_main(["--search", "probe", "--task", "au", "--aus", "1,2,12,14", "--features", str(folder),
                     "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "AU detection: AU1, AU2, AU12, AU14" in printed and "3 of 4 AUs detected (AU1, AU2, AU12)" in printed
    assert "skipped: AU14 (2 positive training clips < 3)" in printed and "read back and checked" in printed
    info = json.loads((out / BUNDLE_JSON).read_text())
    assert info["task"] == "au" and info["labels"] == ["AU1", "AU2", "AU12", "AU14"]
    assert info["source"] == {"kind": "space", "space": "probe", "settings": {}}


def _run(folder, tmp_path, **spec):
    """A finished AU LOSO run of the probe: run.json, its configuration and leaderboard."""
    from mer_ray.search.spec import RunSpec

    run = tmp_path / "run"
    (run / "configs").mkdir(parents=True)
    (run / "configs" / "c000.json").write_text(json.dumps(parse_config(PROBE).to_dict()))
    pd.DataFrame([{"config_id": "c000", "state": "COMPLETE", "f1_macro": 0.61, "f1_binary": 0.42,
                   "f1_macro_AU1": 0.7, "n": 24}]).to_csv(run / "leaderboard.csv", index=False)
    RunSpec(space="probe", features=str(folder), trials=1, objective="f1_macro", **spec).to_json(run / "run.json")
    return run


def test_fit_from_an_au_run_takes_its_task_aus_and_score(folder, tmp_path, capsys):
    run = _run(folder, tmp_path, task="au", aus=[1, 9, 12], au_min_positives=4)
    assert fit_main(["--from-run", str(run), "--out", str(tmp_path / "b")]) == 0
    info = json.loads((tmp_path / "b" / BUNDLE_JSON).read_text())
    assert info["task"] == "au" and info["labels"] == ["AU1", "AU9", "AU12"]
    assert info["au"]["min_positives"] == 4 and info["au"]["skipped"] == {"AU9": "3 positive training clips < 4"}
    assert info["loso"]["f1_macro"] == 0.61 and info["loso"]["f1_macro_AU1"] == 0.7 and not info["loso"]["optimistic"]
    assert "pooled LOSO mean F1 over the AUs: macro 0.6100, binary 0.4200" in (tmp_path / "b" / "README.md").read_text()
    assert "LOSO of this configuration: mean F1 over the AUs: macro 0.6100" in capsys.readouterr().out
    for flags, expected in ((["--task", "emotion"], "is a --task au run; got --task emotion"),
                            (["--aus", "1"], "--aus: --from-run takes the run's AU targets")):
        assert fit_main(["--from-run", str(run), *flags, "--out", str(tmp_path / "c")]) == 2
        [line] = capsys.readouterr().err.splitlines()
        assert expected in line and not (tmp_path / "c").exists()
    spec = json.loads((run / "run.json").read_text())
    (run / "run.json").write_text(json.dumps({**spec, "aus": [1, 77]}))  # features without a run's AU
    assert fit_main(["--from-run", str(run), "--out", str(tmp_path / "c")]) == 2
    [line] = capsys.readouterr().err.splitlines()
    assert f"--from-run {run}: the run's AUs do not fit these features: AU 77 is coded on no clip" in line


def _one_error(capsys, argv) -> str:
    assert fit_main(argv) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def test_features_without_au_codes_are_refused_naming_the_dataset(tmp_path, capsys):
    data = synthetic_features(n_subjects=4, clips=3, size=16, datasets=("casme2", "smic"))
    meta = data.meta.copy()
    meta.loc[meta["dataset"] == "smic", AU_COLUMN] = ""
    features = write_features_folder(dataclasses.replace(data, meta=meta), tmp_path / "f", {"protocol": "3class"})
    line = _one_error(capsys, ["--search", "probe", "--task", "au", "--features", str(features), "--out",
                               str(tmp_path / "b")])
    assert line.startswith("error: --task au: dataset 'smic' (6 clips) has no action-unit codes")
    assert "--subset casme2" in line and not (tmp_path / "b").exists()


@pytest.mark.parametrize(("flags", "expected"), [
    (["--search", "probe", "--aus", "1,2"], "error: --aus sets the AU detection targets: it needs --task au"),
    (["--search", "probe", "--task", "au", "--aus", "1,77"], "error: --aus: AU 77 is coded on no clip"),
    (["--search", "probe", "--task", "au", "--au-min-positives", "0"], "error: --au-min-positives 0: expected an "
     "integer >= 1"),
    (["--search", "paper", "--task", "au"], "error: --task au: classifier='hinge' has no multi-label form"),
    (["--search", "hoof", "--task", "au"], "error: method 'hoof' cannot be exported as a bundle"),
], ids=["aus-alone", "absent-au", "min-positives", "hinge", "hoof"])
def test_au_options_that_cannot_fit_are_refused_in_one_line(folder, tmp_path, capsys, flags, expected):
    line = _one_error(capsys, [*flags, "--features", str(folder), "--out", str(tmp_path / "b")])
    assert line.startswith(expected) and not (tmp_path / "b").exists()


# ---- python -m mer_ray.predict with an AU bundle ----------------------------------------------------------------


def fake_preprocessing(monkeypatch, data):
    """predict's preprocessing replaced by the clips of ``data`` (input name = sample id; "missing" is skipped):
    the table and summary are tested without dlib, on arrays whose scores are known."""
    import preprocessing.clip_inputs as clip_inputs
    from preprocessing.annotations.sample import Sample

    rows = {sid: i for i, sid in enumerate(data.meta["sample_id"])}

    def resolve(inputs, work, **_):
        items = []
        for name in inputs:
            sample = Sample("input", "input", name.replace("/", "_"), "", 0, 5, 5, (), ()) if name in rows else None
            item = clip_inputs.ClipInput(name, "frames", sample=sample, frames=6)
            items.append(item if sample else item.skip("read", "no such file or folder"))
        return items

    def process(items, config, work, use_ray=None):
        out = []
        for item in items:
            if item.sample is None:
                out.append(clip_inputs.ClipOutcome(item, False, item.stage, item.reason))
                continue
            i = rows[item.name]
            arrays = {"flow": data.flow[i], "apex_face": data.apex_face[i], "onset_face": data.apex_face[i],
                      "mask": data.mask[i], "landmarks": data.landmarks[i]}
            out.append(clip_inputs.ClipOutcome(item, True, onset=0, apex=5, arrays=arrays))
        return out

    monkeypatch.setattr(clip_inputs, "resolve_inputs", resolve)
    monkeypatch.setattr(clip_inputs, "process_inputs", process)
    return [data.meta["sample_id"].iloc[i] for i in (0, 7, 14)]


def test_predict_writes_each_aus_probability_and_presence(network, tmp_path, monkeypatch, capsys):
    data, model, out = network
    inputs = fake_preprocessing(monkeypatch, data)
    code = predict_main(["--model", str(out), *inputs, "missing", "--out", str(tmp_path / "t"), "--explain",
                         str(tmp_path / "png")])
    assert code == 0
    table = pd.read_csv(tmp_path / "t.csv", keep_default_na=False, na_values=[""])
    assert list(table.columns[:4]) == ["input", "kind", "status", "aus"]
    assert [c for c in table.columns if c.startswith("AU")] == [x for n in NAMES for x in (f"{n}_p", n)]
    assert "class" not in table and table["status"].tolist() == ["ok"] * 3 + ["skipped"]
    for r, i in enumerate((0, 7, 14)):  # the in-memory fitted networks' probabilities
        row = table.iloc[r]
        np.testing.assert_allclose(row[[f"{n}_p" for n in NAMES[:5]]].to_numpy(float), model.scores[i, :5],
                                   atol=1e-5)
        present = [n for k, n in enumerate(NAMES[:5]) if model.scores[i, k] > 0.5]
        assert [n for n in NAMES[:5] if row[n] == 1] == present and row["aus"] == "+".join(present)
    assert table["AU14_p"].isna().all() and table["AU14"].isna().all()  # skipped: empty cells
    assert table["AU1"].iloc[:3].isin([0, 1]).all() and table.iloc[3][["AU1_p", "AU1"]].isna().all()
    records = json.loads((tmp_path / "t.json").read_text())
    assert records[0]["AU14_p"] is None and records[0]["AU1"] in (0, 1) and records[0]["aus"] == table["aus"][0]
    printed = capsys.readouterr()
    assert f"{inputs[0]}: AUs " in printed.out and "AU14 skipped" in printed.out
    assert "skipped missing: no such file or folder" in printed.err
    assert (tmp_path / "png" / f"{inputs[0].replace('/', '_')}.png").read_bytes()[:4] == b"\x89PNG"


def test_an_emotion_bundle_keeps_its_class_columns(tmp_path, monkeypatch):
    data = au_data()
    model = fit_all(TrainConfig.from_dict(TINY), data, seed=0, device="cpu")
    out = save_bundle(tmp_path / "b", config=model.config, members=model.members, features=data,
                      epochs=model.epochs, seed=0, source=SOURCE, loso=None)
    info = json.loads((out / BUNDLE_JSON).read_text())
    assert info["task"] == "emotion" and info["labels"] == ["negative", "positive", "surprise"] and "au" not in info
    inputs = fake_preprocessing(monkeypatch, data)
    assert predict_main(["--model", str(out), *inputs, "--out", str(tmp_path / "t")]) == 0
    table = pd.read_csv(tmp_path / "t.csv")
    assert list(table.columns) == ["input", "kind", "status", "class", "score_negative", "score_positive",
                                   "score_surprise", "score_kind", "onset", "apex", "apex_spotted", "frames",
                                   "warnings", "stage", "reason", "explanation"]
    np.testing.assert_allclose(table[["score_negative", "score_positive", "score_surprise"]].to_numpy(),
                               model.scores[[0, 7, 14]], atol=1e-5)
    # a bundle written before tasks existed (no "task" key) reads as an emotion bundle
    info.pop("task")
    (out / BUNDLE_JSON).write_text(json.dumps(info))
    assert load_bundle(out).task == "emotion"


def test_a_bundle_of_an_unknown_task_is_refused_in_one_line(network, tmp_path, capsys):
    copy = tmp_path / "copy"
    shutil.copytree(network[2], copy)
    info = json.loads((copy / BUNDLE_JSON).read_text())
    (copy / BUNDLE_JSON).write_text(json.dumps({**info, "task": "valence"}))
    with pytest.raises(BundleError, match="a bundle of task 'valence', this mer-ray reads tasks 'emotion', 'au'"):
        load_bundle(copy)
    assert predict_main(["--model", str(copy), "clip", "--out", str(tmp_path / "t")]) == 2
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith("error: ") and "task 'valence'" in line


def test_long_videos_need_an_emotion_bundle(network, tmp_path, capsys):
    assert predict_main(["--model", str(network[2]), "--long", str(tmp_path / "rec.mp4"), "--out",
                         str(tmp_path / "out")]) == 2
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith("error: --long spots intervals and classifies each with an emotion bundle") and \
        "AU detection bundle" in line


# ---- on the demo (Ray: the features are made by the real pipeline) ---------------------------------------------


@pytest.fixture(scope="module")
def demo(tmp_path_factory, small_demo, ray_local):
    from tests.mer_ray._demo_bundle import demo_features

    return demo_features(tmp_path_factory.getbasetemp(), small_demo)


@pytest.mark.ray
def test_an_au_probe_bundle_predicts_a_clip_from_its_raw_frames(demo, small_demo, tmp_path, capsys):
    """`fit --search probe --task au` on the demo's features, then `predict` on a clip's frames: the bundle's
    preprocessing gives the clip's stored features, hence their AU probabilities."""
    from mer_ray.data.features import load_features
    from tests.mer_ray._demo_bundle import clip_folder

    bundle = tmp_path / "b"
    assert fit_main(["--search", "probe", "--task", "au", "--au-min-positives", "1", "--features", str(demo),
                     "--out", str(bundle)]) == 0
    loaded = load_bundle(bundle)
    detected = loaded.au.detected
    assert loaded.task == "au" and detected
    features = load_features(demo)
    _, stored = loaded.predict(features)
    row = features.meta.iloc[4]
    capsys.readouterr()
    assert predict_main(["--model", str(bundle), str(clip_folder(small_demo, row["sample_id"])), "--onset-frame",
                         str(row["onset"]), "--apex-frame", str(row["apex"]), "--out", str(tmp_path / "t"),
                         "--ray", "off"]) == 0
    [out] = pd.read_csv(tmp_path / "t.csv", keep_default_na=False, na_values=[""]).to_dict("records")
    columns = [loaded.labels.index(n) for n in detected]
    np.testing.assert_allclose([out[f"{n}_p"] for n in detected], stored[4, columns], atol=1e-4)
    assert out["aus"] == "+".join(n for n in detected if out[n] == 1)
    assert f": AUs {out['aus'].replace('+', ', ') or 'none'} (" in capsys.readouterr().out


@pytest.mark.ray
@pytest.mark.slow
def test_the_recommended_portfolio_fits_an_au_bundle_on_the_demo(demo, tmp_path, capsys):
    bundle = tmp_path / "b"
    assert fit_main(["--search", "recommended", "--task", "au", "--au-min-positives", "1", "--set", "epochs=1",
                     "--features", str(demo), "--out", str(bundle)]) == 0
    printed = capsys.readouterr().out
    assert "weights chosen on the out-of-fold scores: probe" in printed and "read back and checked" in printed
    info = json.loads((bundle / BUNDLE_JSON).read_text())
    assert info["kind"] == "portfolio" and info["task"] == "au" and info["au"]["detected"]
    assert info["members"]["shufflenet"]["groups"] == [[0, 1, 2, 3, 4]]  # the 5 networks refitted on every clip
    from mer_ray.data.features import load_features

    assert load_bundle(bundle).predict(load_features(demo))[1].shape == (9, len(info["labels"]))
