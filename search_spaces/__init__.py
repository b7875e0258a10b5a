"""Named hyperparameter search spaces, one module each; ``--search NAME`` picks one.

Each module declares ``SPACE``, a frozen :class:`~search_spaces.space.SearchSpace`: its description, fixed
settings, sampler (seeded TPE, grid or fixed), trials, Optuna define-by-run ``suggest``, and the CPU-sized variant
used on the built-in demo dataset (the CLI prints that it uses it). Nothing else is read from a space module.
"""

from __future__ import annotations

import importlib

from search_spaces.space import SearchSpace

SPACES = ("recommended", "vit", "cbam", "baseline", "paper", "ablation", "probe", "peers", "hoof", "mdmo", "lbptop",
          "ensemble")

__all__ = ["SPACES", "SearchSpace", "get_space", "list_spaces"]


def list_spaces() -> list[str]:
    return list(SPACES)


def get_space(name: str) -> SearchSpace:
    """The search space called ``name``; an unknown name lists the valid ones."""
    if name not in SPACES:
        raise ValueError(f"unknown search space {name!r}; valid spaces: {', '.join(SPACES)}")
    space = importlib.import_module(f"search_spaces.{name}").SPACE
    if space.name != name:
        raise AssertionError(f"search_spaces/{name}.py declares a space named {space.name!r}")
    return space
