"""Every configuration value is checked where it enters: the Python API, ``from_dict`` (search spaces, run folders),
``--set``, ``run.json`` on ``--resume`` and ``bundle.json``; a refused value is one line naming the key, the value and
what was expected."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import typing
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

import pytest

from mer_ray.infra.validation import RULE, Choices, Range, check_fields, describe, from_dict, setting
from mer_ray.methods import METHODS, parse_config
from mer_ray.search.settings import fixed_space, parse_settings, resolve_config
from mer_ray.training.config import TrainConfig
from search_spaces import get_space

REPO = Path(__file__).resolve().parents[3]


# --- TrainConfig: the Python API and from_dict ------------------------------------------------------------------------


@pytest.mark.parametrize(("values", "message"), [
    ({"lr": "fast"}, "lr='fast': expected a number > 0"),
    ({"lr": 0}, "lr=0: expected a number > 0"),
    ({"lr": float("nan")}, "lr=nan: expected a number > 0"),
    ({"lr": True}, "lr=True: expected a number > 0"),
    ({"epochs": -3}, "epochs=-3: expected an integer >= 1"),
    ({"epochs": "abc"}, "epochs='abc': expected an integer >= 1"),
    ({"epochs": 2.5}, "epochs=2.5: expected an integer >= 1"),
    ({"epochs": True}, "epochs=True: expected an integer >= 1"),
    ({"pretrain": "False"}, "pretrain='False': expected true or false"),
    ({"pretrain": 0}, "pretrain=0: expected true or false"),
    ({"dropout": 1.0}, "dropout=1.0: expected a number in [0, 1)"),
    ({"inner_fraction": 1}, "inner_fraction=1: expected a number in (0, 1)"),
    ({"aug_flip": 1.5}, "aug_flip=1.5: expected a number in [0, 1]"),
    ({"classifier": "forest"}, "classifier='forest': expected one of ['softmax', 'hinge', 'svc']"),
    ({"modality": "rgb"}, "modality='rgb': expected one of ['flow', 'apex']"),
    ({"precision": "fp16"}, "precision='fp16': expected one of ['fp32', 'bf16']"),
    ({"svc_kernel": "precomputed"}, "svc_kernel='precomputed': expected one of ['linear', 'rbf', 'poly', 'sigmoid']"),
    ({"model_options": [1]}, "model_options=[1]: expected an object (a dict) with string keys"),
    ({"pretrained_from": None}, "pretrained_from=None: expected a string"),
    ({"pretrain_epochs": 0}, "pretrain_epochs=0: expected an integer >= 1 when pretrain is on"),
])
def test_a_wrong_type_or_an_out_of_range_value_is_refused_at_construction(values, message):
    with pytest.raises(ValueError) as err:
        TrainConfig(**values)
    assert str(err.value) == message
    with pytest.raises(ValueError) as err:
        TrainConfig.from_dict(values)
    assert str(err.value) == message


def test_an_unknown_model_or_model_option_is_refused_naming_the_valid_ones():
    with pytest.raises(ValueError, match=r"^model='resnet5': expected one of \[.*'resnet50'.*\]$"):
        TrainConfig(model="resnet5")
    with pytest.raises(ValueError, match=r"^model 'shufflenet_v2': unknown model_options \['widht'\]; valid "
                                         r"model_options: \[.*'width'.*\]$"):
        TrainConfig(model="shufflenet_v2", model_options={"widht": 0.5})


def test_an_unknown_key_names_it_and_lists_the_valid_ones():
    with pytest.raises(ValueError) as err:
        TrainConfig.from_dict({"epoch": 3})
    text = str(err.value)
    assert text.startswith("TrainConfig: unknown training parameters ['epoch']; valid training parameters: [")
    assert all(repr(f.name) in text for f in fields(TrainConfig))
    assert "\n" not in text


def test_accepted_values_are_normalised():
    config = TrainConfig.from_dict({"epochs": 30.0, "batch_size": 8, "lr": 1, "pretrain": False, "pretrain_epochs": 0})
    assert config.epochs == 30 and type(config.epochs) is int  # a whole float (JSON, Optuna's storage) is an int
    assert config.lr == 1  # an int is a number
    assert config.pretrain is False and config.pretrain_epochs == 0  # no pretraining: 0 pretraining epochs is fine
    assert TrainConfig.from_dict(config.to_dict()) == config
    assert TrainConfig() == TrainConfig.from_dict({})  # the defaults are valid


def test_cross_field_checks_remain():
    with pytest.raises(ValueError, match="need a softmax-trained network"):
        TrainConfig(classifier="hinge", mixup=0.2)
    with pytest.raises(ValueError, match="pretrained_from needs pretrain=True"):
        TrainConfig(pretrain=False, pretrained_from="/x")


def test_every_field_declares_a_type_and_numbers_and_names_a_range():
    hints = typing.get_type_hints(TrainConfig)
    free_text = {"pretrained_from", "save_pretrained"}  # folders
    for f in fields(TrainConfig):
        hint, rule = hints[f.name], f.metadata.get(RULE)
        assert hint is not Any, f.name
        if hint in (int, float):
            assert isinstance(rule, Range), f"{f.name}: a number field without a declared range"
        elif hint is str and f.name not in free_text:
            assert isinstance(rule, Choices), f"{f.name}: a name field without declared choices"


# --- the other methods' configurations (through parse_config, as a search space's or a run's dict) -------------------


@pytest.mark.parametrize(("values", "message"), [
    ({"method": "hoof", "grid": "abc"}, "grid='abc': expected an integer >= 1"),
    ({"method": "mdmo", "row_space": "False"}, "row_space='False': expected true or false"),
    ({"method": "lbptop", "c_grid": [0.1, "a"]}, "c_grid=[0.1, 'a']: expected a list of numbers > 0"),
    ({"method": "linear_probe", "channels": "uv"}, "channels='uv': expected a list of values, each one of "
     "['u', 'v', 'strain', 'magnitude']"),
    ({"method": "linear_probe", "pool": 1.5}, "pool=1.5: expected an integer >= 1"),
])
def test_method_configurations_refuse_a_wrong_type_naming_the_key(values, message):
    with pytest.raises(ValueError) as err:
        parse_config(values)
    assert str(err.value) == message


def test_method_configurations_take_whole_floats_as_integers():
    config = parse_config({"method": "hoof", "grid": 4.0, "c_grid": [1, 2]})
    assert config.grid == 4 and type(config.grid) is int and config.c_grid == (1.0, 2.0)


@pytest.mark.parametrize("method", sorted(METHODS))
def test_every_method_configuration_checks_its_types(method):
    config_class = METHODS[method].config_class
    hints = typing.get_type_hints(config_class)
    for f in fields(config_class):
        if hints[f.name] in (int, float, bool):
            with pytest.raises(ValueError) as err:
                parse_config({"method": method, f.name: "abc"})
            assert str(err.value).startswith(f"{f.name}='abc': expected "), str(err.value)


# --- --set (parse_settings + resolve_config), run.json, bundle.json ---------------------------------------------------


@pytest.mark.parametrize(("items", "message"), [
    (["lr=fast"], "lr='fast': expected a number > 0"),
    (["epochs=abc"], "epochs='abc': expected an integer >= 1"),
    (["epochs=-3"], "epochs=-3: expected an integer >= 1"),
    (["pretrain=1"], "pretrain=1: expected true or false"),
    (["modality=video"], "modality='video': expected one of ['flow', 'apex']"),
    (["model_options=width"], "model_options='width': expected an object (a dict) with string keys"),
])
def test_set_values_are_checked_before_anything_runs(items, message):
    settings = parse_settings(items)
    with pytest.raises(ValueError) as err:
        resolve_config(get_space("ensemble"), settings)
    assert str(err.value) == message
    with pytest.raises(ValueError) as err:  # the recommended portfolio hands a network key to its network member
        resolve_config(get_space("recommended"), settings)
    assert str(err.value) == f"member 'shufflenet': {message}"
    with pytest.raises(ValueError) as err:
        fixed_space(get_space("vit"), settings)
    assert str(err.value) == message


def test_set_python_spellings_mean_true_false_and_null():
    settings = parse_settings(["pretrain=False", "tta_flip=True", "balanced_sampling=false"])
    assert settings == {"pretrain": False, "tta_flip": True, "balanced_sampling": False}
    config = resolve_config(get_space("vit"), settings)
    assert config["pretrain"] is False and config["tta_flip"] is True and config["balanced_sampling"] is False
    assert parse_settings(["x=None", "y=null"]) == {"x": None, "y": None}
    with pytest.raises(ValueError, match=r"^epochs=None: expected an integer >= 1$"):
        resolve_config(get_space("vit"), parse_settings(["epochs=None"]))


def test_set_an_unknown_key_is_named_with_the_valid_ones():
    with pytest.raises(ValueError) as err:
        resolve_config(get_space("ensemble"), parse_settings(["learning_rate=1e-3"]))
    assert str(err.value).startswith("TrainConfig: unknown training parameters ['learning_rate']; valid training "
                                     "parameters: [") and "'lr'" in str(err.value)
    with pytest.raises(ValueError, match=r"^unknown parameter 'learning_rate': neither the portfolio \(.*inner_folds"):
        resolve_config(get_space("recommended"), parse_settings(["learning_rate=1e-3"]))
    with pytest.raises(ValueError, match=r"^--set nets.lr: the portfolio has no member 'nets'; members: probe, "):
        resolve_config(get_space("recommended"), parse_settings(["nets.lr=1e-3"]))
    with pytest.raises(ValueError, match=r"^HoofConfig: unknown parameters \['epochs'\]; valid parameters: \["):
        resolve_config(get_space("hoof"), {"epochs": 3})


def test_a_resumed_run_json_with_a_bad_setting_is_refused_before_ray(tmp_path, capsys, monkeypatch):
    from mer_ray.loso import main

    monkeypatch.setenv("MER_RAY_CACHE", str(tmp_path / "cache"))
    from mer_ray.search.spec import RunSpec

    run = tmp_path / "run"
    run.mkdir()
    RunSpec(space="recommended", features=str(tmp_path / "features"), settings={"lr": "fast"}).to_json(
        run / "run.json")
    assert RunSpec.from_json(run / "run.json").settings == {"lr": "fast"}  # read as stored; refused when built
    assert main(["--search", "recommended", "--resume", str(run)]) == 2
    err = capsys.readouterr().err.strip()
    assert "lr='fast': expected a number > 0" in err and len(err.splitlines()) == 1


def test_a_bundle_json_with_a_bad_training_value_is_refused_naming_it(tmp_path):
    from mer_ray.deploy.bundle import BUNDLE_JSON, FORMAT, FORMAT_VERSION, BundleError
    from mer_ray.deploy.bundle_load import load_bundle

    (tmp_path / BUNDLE_JSON).write_text(json.dumps({
        "format": FORMAT, "format_version": FORMAT_VERSION, "preprocess": {"config": {}},
        "train_config": {**TrainConfig().to_dict(), "epochs": "twelve"}, "files": {}, "members": []}))
    expected = r"cannot read its configuration \(epochs='twelve': expected an integer >= 1\)"
    with pytest.raises(BundleError, match=expected):
        load_bundle(tmp_path)


# --- the command line: exit 2, one line, no Ray ----------------------------------------------------------------------


@pytest.mark.parametrize(("item", "key"), [("lr=fast", "lr"), ("epochs=abc", "epochs")])
def test_loso_refuses_a_bad_set_value_with_one_line_and_exit_2_without_starting_ray(tmp_path, item, key):
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "MER_RAY_CACHE": str(tmp_path / "cache")}
    start = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "mer_ray.loso", "--search", "recommended", "--set", item,
                           "--out", str(tmp_path / "runs")], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=120)
    seconds = time.monotonic() - start
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 2, done.stderr
    assert len(lines) == 1 and f"{key}=" in lines[0] and "expected" in lines[0], done.stderr
    assert "Ray" not in done.stdout + done.stderr  # no "Started a local Ray instance"
    assert not (tmp_path / "runs").exists()
    assert seconds < 20, f"took {seconds:.1f} s"


# --- the mechanism itself --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Example:
    count: int = setting(1, ge=0, le=5)
    share: float | None = setting(None, gt=0, lt=1)
    kind: Literal["a", "b"] = "a"
    sizes: tuple[int, ...] = setting((1,), ge=1)
    pair: tuple[float, float] = (0.0, 1.0)
    names: list[str] = setting(default_factory=lambda: ["x"], choices=("x", "y"))
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        check_fields(self)


def test_the_checker_follows_the_annotations():
    example = _Example(count=5.0, share=0.5, kind="b", sizes=[2, 3.0], pair=[1, 2], names=("y",))
    assert example.count == 5 and example.sizes == (2, 3) and example.pair == (1, 2) and example.names == ["y"]
    for values, message in [
        ({"count": 6}, "count=6: expected an integer in [0, 5]"),
        ({"share": 1}, "share=1: expected null or a number in (0, 1)"),
        ({"kind": "c"}, "kind='c': expected one of ['a', 'b']"),
        ({"sizes": [0]}, "sizes=[0]: expected a list of integers >= 1"),
        ({"pair": [1]}, "pair=[1]: expected a list of 2 numbers"),
        ({"names": ["z"]}, "names=['z']: expected a list of values, each one of ['x', 'y']"),
        ({"extra": {1: 2}}, "extra={1: 2}: expected an object (a dict) with string keys"),
    ]:
        with pytest.raises(ValueError) as err:
            _Example(**values)
        assert str(err.value) == message
    assert describe(bool) == "true or false" and describe(float, Range(0, None, False)) == "a number > 0"


def test_from_dict_checks_types_of_mer_ray_configurations_only_by_default():
    @dataclass
    class Loose:
        n: int = 1

    assert from_dict(Loose, {"n": "2"}).n == "2"  # another package's configuration: its own checks
    with pytest.raises(ValueError, match=r"^n='2': expected an integer$"):
        from_dict(Loose, {"n": "2"}, check_types=True)
