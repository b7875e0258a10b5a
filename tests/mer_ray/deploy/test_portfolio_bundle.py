"""Portfolio bundles: a probe + cross-fitted networks portfolio fitted on every subject, saved without pickles, read
back to the same scores, refused when damaged; `python -m mer_ray.fit --search recommended` and `predict` on it."""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from mer_ray.deploy.bundle import BUNDLE_JSON, BundleError
from mer_ray.deploy.bundle_load import load_bundle
from mer_ray.deploy.portfolio_bundle import SCORE_KIND, CrossfitNetworks, PortfolioBundle, ProbeArrays
from mer_ray.deploy.portfolio_fit import check_exportable, fit_portfolio
from mer_ray.deploy.portfolio_save import save_portfolio
from mer_ray.infra.errors import UsageError
from mer_ray.methods import parse_config
from mer_ray.methods.portfolio import member_seed
from tests.mer_ray._synthetic import synthetic_features

PROBE = {"method": "linear_probe", "pool": 16, "classifier": "logreg", "c": 0.0}
TINY_NET = {"method": "network", "model": "shufflenet_v2", "modality": "flow", "input_size": 16, "pretrain": False,
            "classifier": "softmax", "epochs": 1, "batch_size": 8, "ensemble": 1, "tta_flip": True,
            "model_options": {"width": 0.5, "stem": "small", "repeats": [1, 1, 1], "conv5": 16, "pool": "grid",
                              "grid": 2, "skip": 16}}
SCORES = ["score_negative", "score_positive", "score_surprise"]


def portfolio(**changes):
    values = {"method": "portfolio", "members": ["probe", "net"], "recipes": {"probe": PROBE, "net": TINY_NET},
              "crossfit": ["net"], "inner_folds": 2, **changes}
    return parse_config(values)


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    data = synthetic_features(n_subjects=4, clips=6, size=16)
    model = fit_portfolio(portfolio(), data, seed=0, device="cpu")
    out = save_portfolio(tmp_path_factory.mktemp("portfolio") / "b", model, features=data, seed=0,
                         source={"kind": "space", "space": "test"}, loso=None, notes=["a test bundle"])
    return data, model, out


def test_the_bundle_read_back_scores_as_the_fitted_portfolio(fitted):
    data, model, out = fitted
    bundle = load_bundle(out)
    assert isinstance(bundle, PortfolioBundle) and bundle.score_kind == SCORE_KIND
    assert bundle.labels == ["negative", "positive", "surprise"]
    y_pred, scores = bundle.predict(data)
    assert y_pred.dtype == np.int64 and scores.dtype == np.float32 and scores.shape == (len(data), 3)
    np.testing.assert_allclose(scores, model.scores, atol=1e-5)
    np.testing.assert_allclose(scores.sum(axis=1), 1, atol=1e-5)
    np.testing.assert_array_equal(y_pred, scores.argmax(axis=1))
    assert abs(model.combination.weights.sum() - 1) < 1e-9


def test_the_networks_are_the_inner_fold_ones_and_the_probe_the_refit_on_every_clip(fitted):
    from mer_ray.methods.linear import describe, fit_linear
    from mer_ray.training.classifiers import decision_scores

    data, model, out = fitted
    nets = model.members["net"]
    assert isinstance(nets, CrossfitNetworks) and nets.groups == [[0], [1]] and len(model.subject_groups) == 2
    assert sorted(s for g in model.subject_groups for s in g) == data.subjects
    probe_config = portfolio().member_config("probe", inner=False)
    x = describe(probe_config, data)
    pipeline = fit_linear(probe_config, x, data.labels, data.meta["subject"].to_numpy(),
                          member_seed(0, "probe", "final"))
    probe = load_bundle(out).members["probe"]
    assert isinstance(probe, ProbeArrays)
    np.testing.assert_allclose(probe.scores(data), decision_scores(pipeline, x), atol=1e-6)


def test_layout_checksums_and_no_pickles(fitted):
    _, model, out = fitted
    info = json.loads((out / BUNDLE_JSON).read_text())
    assert info["kind"] == "portfolio" and info["portfolio_config"]["members"] == ["probe", "net"]
    assert set(info["combination"]["weights"]) == {"probe", "net"} and info["inner_folds"] == 2
    assert info["members"]["probe"] == {"kind": "linear_probe", "config": probe_dict(), "arrays": "probe_probe.npz"}
    assert info["members"]["net"]["bundle"] == "members/net" and info["members"]["net"]["groups"] == [[0], [1]]
    written = {str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()} - {BUNDLE_JSON, "README.md"}
    assert set(info["files"]) == written and "members/net/bundle.json" in written
    for k in range(2):
        state = torch.load(out / "members" / "net" / f"network_{k}.pt", weights_only=True)
        assert all(isinstance(v, torch.Tensor) for v in state.values())
    with np.load(out / "probe_probe.npz", allow_pickle=False) as arrays:
        assert set(arrays.files) == {"mean", "scale", "coef", "intercept", "classes"}
    sub = json.loads((out / "members" / "net" / BUNDLE_JSON).read_text())
    assert sub["kind"] == "network" and len(sub["members"]) == 2 and "cross-fitted networks" in sub["notes"][0]
    card = (out / "README.md").read_text()
    assert card.startswith("# mer-ray model bundle (portfolio)") and "2 cross-fitted networks" in card
    assert "weight" in card and "a test bundle" in card


def probe_dict():
    return parse_config(PROBE).to_dict()


@pytest.mark.parametrize("name", ["members/net/network_1.pt", "members/net/bundle.json", "probe_probe.npz"])
def test_a_changed_file_is_refused_in_one_line_naming_it(fitted, tmp_path, name):
    copy = tmp_path / "copy"
    shutil.copytree(fitted[2], copy)
    with open(copy / name, "ab") as f:
        f.write(b"x")
    with pytest.raises(BundleError, match=f"{name} changed since the bundle was written") as err:
        load_bundle(copy)
    assert len(str(err.value).splitlines()) == 1


def test_a_missing_member_or_unknown_kind_is_refused(fitted, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(fitted[2], copy)
    (copy / "probe_probe.npz").unlink()
    with pytest.raises(BundleError, match="probe_probe.npz is missing"):
        load_bundle(copy)
    info = json.loads((fitted[2] / BUNDLE_JSON).read_text())
    shutil.copy(fitted[2] / "probe_probe.npz", copy / "probe_probe.npz")
    (copy / BUNDLE_JSON).write_text(json.dumps({**info, "kind": "forest"}))
    with pytest.raises(BundleError, match="a bundle of kind 'forest'"):
        load_bundle(copy)


@pytest.mark.parametrize(("changes", "expected"), [
    ({"members": ["probe", "hoof"], "recipes": {"probe": PROBE, "hoof": {"method": "hoof"}}, "crossfit": []},
     "portfolio member 'hoof' (method 'hoof') cannot be exported"),
    ({"crossfit": ["probe", "net"]}, "portfolio member 'probe' (a crossfit linear_probe member) cannot be exported"),
    ({"combiner": "stack"}, "portfolio combiner 'stack' cannot be exported"),
], ids=["hoof", "crossfit-probe", "stack"])
def test_members_a_bundle_cannot_hold_are_refused_in_one_line(changes, expected):
    config = portfolio(**changes)
    with pytest.raises(UsageError, match=re.escape(expected)) as err:
        check_exportable(config)
    message = str(err.value)
    assert len(message.splitlines()) == 1 and "linear_probe members" in message and "network members" in message
    with pytest.raises(UsageError, match=re.escape(expected)):  # before any work
        fit_portfolio(config, synthetic_features(n_subjects=3, clips=3, size=16), seed=0)


# ---- the commands on the demo (Ray: the features are made by the real pipeline) ---------------------------------


@pytest.fixture(scope="module")
def demo(tmp_path_factory, small_demo, ray_local):
    from tests.mer_ray._demo_bundle import demo_features, demo_portfolio_bundle

    base = tmp_path_factory.getbasetemp()
    return demo_features(base, small_demo), demo_portfolio_bundle(base, small_demo)


@pytest.mark.ray
def test_fit_search_recommended_writes_a_checked_portfolio_bundle(demo):
    from mer_ray.data.features import load_features
    from search_spaces import get_space

    features, bundle = demo
    info = json.loads((bundle / BUNDLE_JSON).read_text())
    assert info["kind"] == "portfolio" and info["source"] == {"kind": "space", "space": "recommended",
                                                              "settings": {"epochs": 1}}
    fixed = get_space("recommended").fixed
    assert info["portfolio_config"]["members"] == fixed["members"] and info["portfolio_config"]["crossfit"] == \
        list(fixed.get("crossfit", []))
    assert info["portfolio_config"]["recipes"]["shufflenet"]["epochs"] == 1  # --set epochs=1 reached the networks
    # the networks refitted on every clip: one group of the ensemble's 5 (the 3 inner folds' networks only scored)
    member = info["members"]["shufflenet"]
    assert member["groups"] == [[0, 1, 2, 3, 4]] and not member["crossfit"]
    assert info["features"]["clips"] == 9 and info["loso"] is None
    loaded = load_bundle(bundle)
    _, scores = loaded.predict(load_features(features))
    assert scores.shape == (9, 3) and np.allclose(scores.sum(axis=1), 1, atol=1e-5)
    assert "DEMO" in (bundle / "README.md").read_text()


@pytest.mark.ray
def test_predict_uses_a_portfolio_bundle(demo, small_demo, tmp_path, capsys):
    from mer_ray.data.features import load_features
    from mer_ray.predict import main
    from tests.mer_ray._demo_bundle import clip_folder

    features_dir, bundle = demo
    features = load_features(features_dir)
    _, stored = load_bundle(bundle).predict(features)
    row = features.meta.iloc[4]
    code = main(["--model", str(bundle), str(clip_folder(small_demo, row["sample_id"])), "--onset-frame",
                 str(row["onset"]), "--apex-frame", str(row["apex"]), "--out", str(tmp_path / "t"), "--ray", "off"])
    assert code == 0
    [out] = pd.read_csv(tmp_path / "t.csv").to_dict("records")
    assert out["status"] == "ok" and out["score_kind"] == SCORE_KIND
    np.testing.assert_allclose([out[c] for c in SCORES], stored[4], atol=1e-4)  # the raw frames give its features
    assert f": {out['class']} (" in capsys.readouterr().out


@pytest.mark.ray
def test_fit_from_a_portfolio_run_and_a_refused_combiner(demo, tmp_path, capsys):
    from mer_ray.fit import main
    from mer_ray.search.spec import RunSpec
    from search_spaces import get_space

    features, _ = demo
    run = tmp_path / "run"
    (run / "configs").mkdir(parents=True)
    fixed = get_space("recommended").fixed
    config = parse_config({**fixed, "inner_folds": 2, "recipes": {
        **fixed["recipes"], "shufflenet": {**fixed["recipes"]["shufflenet"], "epochs": 1}}}).to_dict()
    (run / "configs" / "c000.json").write_text(json.dumps(config))
    pd.DataFrame([{"config_id": "c000", "state": "COMPLETE", "uar": 0.6, "uf1": 0.55, "accuracy": 0.6}]).to_csv(
        run / "leaderboard.csv", index=False)
    RunSpec(space="recommended", features=str(features), trials=1).to_json(run / "run.json")
    assert main(["--from-run", str(run), "--out", str(tmp_path / "b")]) == 0
    out = capsys.readouterr().out
    assert "weights chosen on the out-of-fold scores: probe" in out and "read back and checked" in out
    info = json.loads((tmp_path / "b" / BUNDLE_JSON).read_text())
    assert info["kind"] == "portfolio" and info["loso"]["uar"] == 0.6 and info["loso"]["config_id"] == "c000"
    assert info["subject_groups"] and len(info["subject_groups"]) == 2  # inner_folds 2 of the run's configuration
    assert "pooled LOSO UAR 0.6000" in (tmp_path / "b" / "README.md").read_text()
    assert main(["--from-run", str(run), "--set", "combiner=stack", "--out", str(tmp_path / "c")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "combiner 'stack' cannot be exported" in err
    assert not (tmp_path / "c").exists()


def test_a_refitted_network_member_is_its_networks_fitted_on_every_clip():
    data = synthetic_features(n_subjects=4, clips=6, size=16)
    config = portfolio(crossfit=[], recipes={"probe": PROBE, "net": {**TINY_NET, "ensemble": 2}},
                       inner_settings={"net": {"ensemble": 1}})
    model = fit_portfolio(config, data, seed=0, device="cpu")
    nets = model.members["net"]
    assert isinstance(nets, CrossfitNetworks) and nets.groups == [[0, 1]] and len(nets.bundle.members) == 2
    assert model.epochs["net"] == [1]
    with tempfile.TemporaryDirectory() as tmp:
        out = save_portfolio(Path(tmp) / "b", model, features=data, seed=0, source={"kind": "space", "space": "t"},
                             loso=None)
        info = json.loads((out / BUNDLE_JSON).read_text())
        assert info["members"]["net"]["crossfit"] is False and "fitted on every clip" in (out / "README.md").read_text()
        _, scores = load_bundle(out).predict(data)
    np.testing.assert_allclose(scores, model.scores, atol=1e-5)


def test_the_card_says_whether_the_fallback_member_predicts(fitted):
    from mer_ray.deploy.portfolio_card import portfolio_card

    _, _, out = fitted
    info = json.loads((out / BUNDLE_JSON).read_text())
    assert "Fallback" not in portfolio_card(info)
    info["combination"]["inner"]["fallback"] = {"member": "probe", "share_ahead": 0.4, "confidence": 0.8,
                                                "used": True}
    card = portfolio_card(info)
    assert "in 40.0% of bootstrap replicates" in card and "`probe` alone predicts" in card
    info["combination"]["inner"]["fallback"].update(share_ahead=0.95, used=False)
    assert "the combination predicts" in portfolio_card(info)
