"""Named hyperparameter search spaces, one module each; ``--search NAME`` picks one.

Each module declares (constants plus Optuna define-by-run calls; no computation, no large objects):

- ``DESCRIPTION``: one line for ``--help`` and the report.
- ``FIXED``: constants of every configuration (the paper's L2 0.2, dropout 0.5, LeakyReLU...).
- ``suggest(trial) -> dict``: the searched dimensions, as ``trial.suggest_*`` calls.
- ``TRIALS``: configurations a search tries by default.
- ``SAMPLER``: ``"tpe"`` (seeded TPE), ``"grid"`` (every point of ``GRID``) or ``"fixed"`` (one configuration).
- ``DEMO_FIXED``, ``suggest_demo(trial)``, ``DEMO_TRIALS``: the CPU-sized variant used on the built-in demo
  dataset so that a laptop run ends within minutes (the CLI prints that it uses it).
"""

from __future__ import annotations

import importlib
from types import ModuleType

SPACES = ("recommended", "vit", "cbam", "baseline", "paper", "ablation", "probe", "peers", "hoof", "mdmo", "lbptop")


def list_spaces() -> list[str]:
    return list(SPACES)


def get_space(name: str) -> ModuleType:
    """The search-space module called ``name``; an unknown name lists the valid ones."""
    if name not in SPACES:
        raise ValueError(f"unknown search space {name!r}; valid spaces: {', '.join(SPACES)}")
    return importlib.import_module(f"search_spaces.{name}")
