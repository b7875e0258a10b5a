"""The named search spaces: every one resolves to valid configurations; unknown names list the valid ones."""

import optuna
import pytest

from mer_ray.methods import parse_config
from search_spaces import get_space, list_spaces


def test_unknown_space_lists_the_valid_ones():
    with pytest.raises(ValueError, match="valid spaces: recommended, vit, cbam, baseline, paper, ablation, probe"):
        get_space("vitt")


@pytest.mark.parametrize("name", list_spaces())
def test_every_space_produces_valid_configurations(name, tmp_path):
    """Each named space's FIXED + suggest (and the demo variant) resolve to a valid configuration."""
    space = get_space(name)
    for demo in (False, True):
        study = optuna.create_study()
        suggest = space.suggest_demo if demo else space.suggest
        for _ in range(3):
            trial = study.ask()
            params = {**space.FIXED, **(space.DEMO_FIXED if demo else {}), **suggest(trial)}
            config = parse_config(params)
            if config.method == "network" and name in ("paper", "ablation"):  # the paper's literal settings
                assert config.l2 == 0.2 and config.dropout == 0.5 and config.act == "leaky_relu"
            study.tell(trial, 0.5)
