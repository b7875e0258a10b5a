"""The linear methods' configurations (the probe, HOOF, MDMO, LBP-TOP) are checked at construction, as ``TrainConfig``
is: every field has a type (its annotation) and a range or choices (``setting``); a wrong type, an out-of-range
value or an unknown key is refused with one line naming the key, the value and what was expected, whether the
configuration is built directly (the Python API) or from a dict (``from_dict``: search spaces, run folders)."""

from __future__ import annotations

import pickle
import typing
from dataclasses import fields, replace
from typing import Any

import pytest

from mer_ray.infra.validation import RULE, Choices, Range
from mer_ray.methods.hoof import HoofConfig
from mer_ray.methods.lbptop import LbpTopConfig
from mer_ray.methods.linear import LinearConfig
from mer_ray.methods.mdmo import MdmoConfig

CONFIGS = (LinearConfig, HoofConfig, MdmoConfig, LbpTopConfig)


def _refused(cls: type, values: dict[str, Any]) -> list[str]:
    """The messages of building ``cls`` from ``values`` directly and through ``from_dict`` (both must refuse)."""
    messages = []
    for build in (lambda: cls(**values), lambda: cls.from_dict(values)):
        with pytest.raises(ValueError) as err:
            build()
        messages.append(str(err.value))
    return messages


@pytest.mark.parametrize(("cls", "values", "message"), [
    # wrong type
    (LinearConfig, {"pool": "16"}, "pool='16': expected an integer >= 1"),
    (LinearConfig, {"pool": 2.5}, "pool=2.5: expected an integer >= 1"),
    (LinearConfig, {"apply_mask": "False"}, "apply_mask='False': expected true or false"),
    (LinearConfig, {"channels": "uv"},
     "channels='uv': expected a list of values, each one of ['u', 'v', 'strain', 'magnitude']"),
    (LinearConfig, {"c": "auto"}, "c='auto': expected a number >= 0"),
    (LinearConfig, {"inner_folds": True}, "inner_folds=True: expected an integer >= 2"),
    (HoofConfig, {"grid": None}, "grid=None: expected an integer >= 1"),
    (HoofConfig, {"row_space": 1}, "row_space=1: expected true or false"),
    (MdmoConfig, {"roi_size": "small"}, "roi_size='small': expected a number in (0, 2]"),
    (MdmoConfig, {"c_grid": 0.1}, "c_grid=0.1: expected a list of numbers > 0"),
    (LbpTopConfig, {"points": 8.5}, "points=8.5: expected an integer >= 4"),
    (LbpTopConfig, {"c_grid": [0.1, "a"]}, "c_grid=[0.1, 'a']: expected a list of numbers > 0"),
    # out of range / not one of the choices
    (LinearConfig, {"pool": 0}, "pool=0: expected an integer >= 1"),
    (LinearConfig, {"channels": ["u", "w"]},
     "channels=['u', 'w']: expected a list of values, each one of ['u', 'v', 'strain', 'magnitude']"),
    (LinearConfig, {"channels": []}, "channels=[]: expected a non-empty list of values, each one of "
                                     "['u', 'v', 'strain', 'magnitude']"),
    (LinearConfig, {"method": "hoof"}, "method='hoof': expected one of ['linear_probe']"),
    (LinearConfig, {"classifier": "forest"}, "classifier='forest': expected one of ['logreg', 'linear_svm']"),
    (LinearConfig, {"c": -1.0}, "c=-1.0: expected a number >= 0"),
    (LinearConfig, {"c_grid": [0.1, 0]}, "c_grid=[0.1, 0]: expected a list of numbers > 0"),
    (LinearConfig, {"inner_folds": 1}, "inner_folds=1: expected an integer >= 2"),
    (LinearConfig, {"c": 0, "c_grid": []},
     "c=0: expected a number > 0, or 0 with a non-empty c_grid of numbers > 0 (c_grid=[])"),
    (HoofConfig, {"grid": 0}, "grid=0: expected an integer >= 1"),
    (HoofConfig, {"bins": 1}, "bins=1: expected an integer >= 2"),
    (HoofConfig, {"method": "mdmo"}, "method='mdmo': expected one of ['hoof']"),
    (HoofConfig, {"c": float("inf")}, "c=inf: expected a number >= 0"),
    (MdmoConfig, {"bins": 1}, "bins=1: expected an integer >= 2"),
    (MdmoConfig, {"roi_size": 0}, "roi_size=0: expected a number in (0, 2]"),
    (MdmoConfig, {"roi_size": 2.5}, "roi_size=2.5: expected a number in (0, 2]"),
    (MdmoConfig, {"inner_folds": 0}, "inner_folds=0: expected an integer >= 2"),
    (LbpTopConfig, {"grid": -1}, "grid=-1: expected an integer >= 1"),
    (LbpTopConfig, {"points": 3}, "points=3: expected an integer >= 4"),
    (LbpTopConfig, {"radius": 0}, "radius=0: expected an integer >= 1"),
    (LbpTopConfig, {"classifier": "svm"}, "classifier='svm': expected one of ['logreg', 'linear_svm']"),
])
def test_a_wrong_type_or_an_out_of_range_value_is_refused_naming_key_value_and_expectation(cls, values, message):
    assert _refused(cls, values) == [message, message]


@pytest.mark.parametrize("cls", CONFIGS, ids=lambda c: c.__name__)
def test_an_unknown_key_is_refused_naming_it_and_the_valid_ones(cls):
    direct, from_dict = _refused(cls, {"epochs": 3})
    assert direct == from_dict
    assert direct.startswith(f"{cls.__name__}: unknown parameters ['epochs']; valid parameters: [")
    assert all(repr(f.name) in direct for f in fields(cls)) and "\n" not in direct


@pytest.mark.parametrize("cls", CONFIGS, ids=lambda c: c.__name__)
def test_every_field_declares_a_type_and_numbers_and_names_a_range(cls):
    hints = typing.get_type_hints(cls)
    for f in fields(cls):
        hint, rule = hints[f.name], f.metadata.get(RULE)
        assert hint is not Any, f.name
        item = typing.get_args(hint)[0] if typing.get_origin(hint) is tuple else hint
        if item in (int, float):
            assert isinstance(rule, Range), f"{cls.__name__}.{f.name}: a number field without a declared range"
        elif item is str:
            assert isinstance(rule, Choices), f"{cls.__name__}.{f.name}: a name field without declared choices"
        else:
            assert item is bool, f"{cls.__name__}.{f.name}: {hint}"


@pytest.mark.parametrize("cls", CONFIGS, ids=lambda c: c.__name__)
def test_defaults_are_valid_and_a_config_survives_its_round_trips(cls):
    config = cls()
    assert cls.from_dict(config.to_dict()) == config
    assert pickle.loads(pickle.dumps(config)) == config  # shipped to Ray workers
    assert replace(config, inner_folds=3).inner_folds == 3
    with pytest.raises(ValueError, match=r"^inner_folds=1: expected an integer >= 2$"):
        replace(config, inner_folds=1)


def test_accepted_values_are_normalised():
    config = HoofConfig(grid=4.0, c=1, c_grid=[1, 2])
    assert config.grid == 4 and type(config.grid) is int
    assert config.c_grid == (1.0, 2.0) and all(type(c) is float for c in config.c_grid)
    probe = LinearConfig(channels=["u", "magnitude"], pool=8.0)
    assert probe.channels == ("u", "magnitude") and probe.pool == 8 and type(probe.pool) is int
