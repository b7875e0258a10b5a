"""The named search spaces: each declares a valid SearchSpace whose configurations, first trial and best recipe
belong to it; unknown names list the valid ones."""

import dataclasses

import optuna
import pytest

from mer_ray.methods import parse_config
from search_spaces import SearchSpace, get_space, list_spaces
from search_spaces.space import no_suggestion


def test_unknown_space_lists_the_valid_ones():
    with pytest.raises(ValueError, match="valid spaces: recommended, vit, cbam, baseline, paper, ablation, probe"):
        get_space("vitt")


@pytest.mark.parametrize("name", list_spaces())
def test_every_space_is_a_frozen_search_space_named_as_its_module(name):
    space = get_space(name)
    assert isinstance(space, SearchSpace) and space.name == name and space.description
    with pytest.raises(dataclasses.FrozenInstanceError):
        space.trials = 99


@pytest.mark.parametrize("name", list_spaces())
def test_every_space_produces_valid_configurations(name):
    """Each space's fixed settings + suggest (and the demo variant) resolve to a valid configuration."""
    space = get_space(name)
    for demo in (False, True):
        study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
        for _ in range(3):
            trial = study.ask()
            params = {**space.params(demo), **space.suggester(demo)(trial)}
            config = parse_config(params)
            if config.method == "network" and name in ("paper", "ablation"):  # the paper's literal settings
                assert config.l2 == 0.2 and config.dropout == 0.5 and config.act == "leaky_relu"
            study.tell(trial, 0.5)
        assert len(study.trials) == 3


@pytest.mark.parametrize("name", [n for n in list_spaces() if get_space(n).first_trial])
def test_a_first_trial_is_a_point_of_the_space_and_gives_its_best_recipe(name):
    """The first trial Optuna is told to try lies inside the searched ranges, and suggests exactly ``best``."""
    space = get_space(name)
    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=0))
    study.enqueue_trial(dict(space.first_trial))
    trial = study.ask()
    drawn = {**space.params(), **space.suggest(trial)}
    assert trial.params == dict(space.first_trial)  # Optuna accepted every value as inside its distribution
    assert parse_config(drawn).to_dict() == parse_config(dict(space.best)).to_dict()


@pytest.mark.parametrize("name", [n for n in list_spaces() if get_space(n).best is not None])
def test_a_best_recipe_is_valid_and_of_the_spaces_model(name):
    space = get_space(name)
    best = parse_config(dict(space.best))
    assert best.method == parse_config(space.params()).method
    assert dict(space.best).get("model") == space.fixed.get("model")


def test_grid_spaces_enumerate_every_point_and_fixed_spaces_one():
    ablation, probe = get_space("ablation"), get_space("probe")
    assert len(ablation.configurations()) == 6 * 2 * 2 == ablation.trials
    assert {c["model"] for c in ablation.configurations()} == set(ablation.grid["model"])
    assert probe.configurations() == [probe.params()] and probe.trials == 1
    assert get_space("vit").configurations() == []  # drawn during the search


def test_set_view_searches_nothing_and_keeps_the_reference():
    view = get_space("peers").with_settings({"epochs": 3})
    assert view.sampler == "fixed" and view.trials == 1 and view.suggest is no_suggestion
    assert view.reference == "paper" and view.fixed["epochs"] == 3 and view.demo_fixed["epochs"] == 3


@pytest.mark.parametrize("bad, message", [
    (dict(sampler="random"), "sampler 'random': expected one of"),
    (dict(sampler="grid"), "a grid is given exactly when the sampler is 'grid'"),
    (dict(sampler="tpe", trials=0), "trials=0: expected an integer >= 1"),
    (dict(trials=3), "a fixed space has exactly one configuration"),
])
def test_an_inconsistent_space_is_refused_at_construction(bad, message):
    with pytest.raises(ValueError, match=message):
        SearchSpace(name="x", description="x", **bad)
