"""``--set KEY=VALUE``: values parsed as JSON, one fixed configuration, unknown keys refused (loso and fit)."""

from __future__ import annotations

import json

import pytest

from mer_ray.search.settings import fixed_space, parse_settings, resolve_config
from search_spaces import get_space


def test_values_are_json_where_they_can_be_else_strings():
    assert parse_settings(["input_size=64", "lr=1e-3", "flip_expand=false", "model_options={\"width\": 0.5}",
                           "modality=flow", "repeats=[1, 1, 1]", "note=a=b"]) == {
        "input_size": 64, "lr": 1e-3, "flip_expand": False, "model_options": {"width": 0.5}, "modality": "flow",
        "repeats": [1, 1, 1], "note": "a=b"}
    with pytest.raises(ValueError, match="--set 'input_size': expected KEY=VALUE"):
        parse_settings(["input_size"])


def test_python_spellings_mean_true_false_and_null_and_anything_else_stays_a_string():
    assert parse_settings(["pretrain=False", "tta_flip=True", "x=None", "y=false", "z=null", "w= True"]) == {
        "pretrain": False, "tta_flip": True, "x": None, "y": False, "z": None, "w": True}
    assert parse_settings(["lr=fast", "a=FALSE", "b=none", "c='x'"]) == {
        "lr": "fast", "a": "FALSE", "b": "none", "c": "'x'"}
    assert resolve_config(get_space("vit"), parse_settings(["pretrain=False"]))["pretrain"] is False


def test_a_fixed_view_of_a_space_searches_nothing_and_the_settings_win_everywhere():
    space = get_space("paper")
    view = fixed_space(space, {"input_size": 64, "modality": "flow"})
    assert view.sampler == "fixed" and view.trials == 1 and view.suggest(None) == {}
    assert view.fixed["input_size"] == 64 and view.fixed["l2"] == space.fixed["l2"]
    assert view.demo_fixed["input_size"] == 64  # over the demo variant's own 64 / flow too
    assert "--set input_size=64, modality=\"flow\"" in view.description
    config = resolve_config(get_space("vit"), {"epochs": 7}, demo=True)
    assert config["epochs"] == 7 and config["model"] == get_space("vit").fixed["model"]


def test_unknown_keys_and_bad_values_name_what_is_valid():
    with pytest.raises(ValueError, match=r"unknown training parameters \['epoch'\]; valid training parameters: "):
        fixed_space(get_space("paper"), {"epoch": 3})
    with pytest.raises(ValueError, match=r"^classifier='forest': expected one of \['softmax', 'hinge', 'svc'\]$"):
        fixed_space(get_space("paper"), {"classifier": "forest"})
    for item, message in [("lr=fast", "lr='fast': expected a number > 0"),
                          ("epochs=abc", "epochs='abc': expected an integer >= 1"),
                          ("epochs=-3", "epochs=-3: expected an integer >= 1"),
                          ("pretrain=0", "pretrain=0: expected true or false"),
                          ("input_size=None", "input_size=None: expected an integer >= 1")]:
        with pytest.raises(ValueError) as err:
            fixed_space(get_space("paper"), parse_settings([item]))
        assert str(err.value) == message


def test_loso_refuses_an_unknown_key_with_exit_2_before_starting_anything(tmp_path, capsys):
    from mer_ray.loso import main

    assert main(["--search", "ensemble", "--set", "input_sise=16", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: TrainConfig: unknown training parameters ['input_sise']") and "input_size" in err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.ray
def test_loso_with_set_runs_one_fixed_configuration(tmp_path, ray_local):
    from mer_ray.loso import main
    from tests.mer_ray._synthetic import synthetic_features, write_features_folder

    folder = write_features_folder(synthetic_features(n_subjects=3, clips=3, size=16), tmp_path / "features",
                                   {"protocol": "3class", "datasets": {"casme2": "/data/CASME2"}})
    out = tmp_path / "runs"
    code = main(["--search", "vit", "--features", str(folder), "--out", str(out), "--set", "epochs=1",
                 "--set", "input_size=8", "--set", "model=shufflenet_v2", "--set", "model_options={}",
                 "--set", "classifier=softmax"])
    assert code == 0
    [run] = list(out.iterdir())
    spec = json.loads((run / "run.json").read_text())
    assert spec["trials"] == 1 and spec["settings"]["input_size"] == 8
    [config] = list((run / "configs").glob("*.json"))
    values = json.loads(config.read_text())
    assert values["epochs"] == 1 and values["input_size"] == 8 and values["model"] == "shufflenet_v2"
    assert values["lr"] == get_space("vit").fixed.get("lr", values["lr"])  # nothing sampled: the space's own


def test_set_on_a_portfolio_reaches_its_members():
    from mer_ray.search.settings import resolve_config

    config = resolve_config(get_space("recommended"),
                            parse_settings(["epochs=3", "c=0.5", "inner_folds=3", "shufflenet.lr=0.01"]))
    net, probe = config["recipes"]["shufflenet"], config["recipes"]["probe"]
    assert net["epochs"] == 3 and net["lr"] == 0.01 and "epochs" not in probe  # only the fields a member has
    assert probe["c"] == 0.5 and "c" not in net and config["inner_folds"] == 3
    space = fixed_space(get_space("recommended"), parse_settings(["epochs=2"]))
    assert space.params()["recipes"]["shufflenet"]["epochs"] == 2
    assert space.params(demo=True)["recipes"]["shufflenet"]["epochs"] == 2


def test_set_turns_on_the_portfolio_fallback_and_refuses_a_member_it_does_not_have():
    from mer_ray.search.settings import resolve_config

    assert resolve_config(get_space("recommended"), {})["fallback"] == ""
    config = resolve_config(get_space("recommended"), parse_settings(["fallback=probe", "fallback_confidence=0.9"]))
    assert config["fallback"] == "probe" and config["fallback_confidence"] == 0.9
    with pytest.raises(ValueError, match="fallback 'svm' is not a member"):
        fixed_space(get_space("recommended"), parse_settings(["fallback=svm"]))
