"""The contract of a named search space: one frozen :class:`SearchSpace` per module of ``search_spaces``.

A space is data plus Optuna define-by-run functions: its fixed settings, how configurations are drawn (seeded TPE,
a grid, or one fixed configuration), how many, and a CPU-sized variant for the built-in demo dataset. The search
(``mer_ray.search.scheduler``), the run spec, ``--set`` and the benchmarks read a space only through this class.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

Sampler = Literal["tpe", "grid", "fixed"]
SAMPLERS: tuple[str, ...] = ("tpe", "grid", "fixed")
Suggest = Callable[[Any], dict]  # an Optuna trial (or FixedTrial) -> the searched parameters


def no_suggestion(trial) -> dict:
    """The ``suggest`` of a space that searches nothing."""
    return {}


@dataclass(frozen=True)
class SearchSpace:
    """A named hyperparameter space.

    Attributes:
        name: the ``--search`` name.
        description: one line for ``--help`` and the report.
        fixed: constants of every configuration (the paper's L2 0.2, dropout 0.5, LeakyReLU...).
        suggest: the searched dimensions, as ``trial.suggest_*`` calls (returns ``{}`` when nothing is searched).
        sampler: ``"tpe"`` (seeded TPE), ``"grid"`` (every point of ``grid``) or ``"fixed"`` (one configuration).
        trials: configurations a search tries by default.
        startup: TPE's random start-up trials.
        grid: the grid sampler's points, ``{parameter: [values]}``.
        first_trial: a TPE search's first trial, in the searched parameters' names (a known-good recipe).
        reference: the leaderboard's default ``--reference`` (a configuration label), if any.
        best: the space's best fixed recipe, a complete parameter dict (``benchmarks/recipe_quality.py``).
        demo_fixed: settings laid over ``fixed`` on the built-in demo dataset (its CPU-sized variant).
        suggest_demo: the demo variant's searched dimensions (default: ``suggest``).
        demo_trials: the demo variant's default number of configurations (default: ``trials``).
    """

    name: str
    description: str
    fixed: Mapping[str, Any] = field(default_factory=dict)
    suggest: Suggest = no_suggestion
    sampler: Sampler = "fixed"
    trials: int = 1
    startup: int = 10
    grid: Mapping[str, list] | None = None
    first_trial: Mapping[str, Any] | None = None
    reference: str | None = None
    best: Mapping[str, Any] | None = None
    demo_fixed: Mapping[str, Any] = field(default_factory=dict)
    suggest_demo: Suggest | None = None
    demo_trials: int | None = None

    def __post_init__(self):
        if self.sampler not in SAMPLERS:
            raise ValueError(f"search space {self.name!r}: sampler {self.sampler!r}: expected one of {SAMPLERS}")
        if (self.sampler == "grid") != (self.grid is not None):
            raise ValueError(f"search space {self.name!r}: a grid is given exactly when the sampler is 'grid'")
        for what, n in (("trials", self.trials), ("demo_trials", self.demo_trials), ("startup", self.startup)):
            if n is not None and (not isinstance(n, int) or n < 1):
                raise ValueError(f"search space {self.name!r}: {what}={n!r}: expected an integer >= 1")
        if self.sampler == "fixed" and (self.trials != 1 or (self.demo_trials or 1) != 1):
            raise ValueError(f"search space {self.name!r}: a fixed space has exactly one configuration")

    # ---- what a search reads --------------------------------------------------------------------------

    def params(self, demo: bool = False) -> dict[str, Any]:
        """The fixed settings, with the demo variant's laid over them when ``demo`` (a fresh dict)."""
        return {**self.fixed, **(self.demo_fixed if demo else {})}

    def suggester(self, demo: bool = False) -> Suggest:
        """The define-by-run function of the real (or the demo) variant."""
        return (self.suggest_demo or self.suggest) if demo else self.suggest

    def default_trials(self, demo: bool = False) -> int:
        return (self.demo_trials or self.trials) if demo else self.trials

    def grid_points(self) -> list[dict[str, Any]]:
        """Every point of a grid space (``[]`` for the other samplers)."""
        if self.grid is None:
            return []
        return [dict(zip(self.grid, values)) for values in itertools.product(*self.grid.values())]

    def configurations(self, demo: bool = False) -> list[dict[str, Any]]:
        """Every configuration known before any trial: a fixed space's one, a grid space's every point; ``[]``
        for a TPE space (its configurations are drawn during the search)."""
        import optuna

        points = self.grid_points() if self.sampler == "grid" else [{}] if self.sampler == "fixed" else []
        suggest = self.suggester(demo)
        return [{**self.params(demo), **suggest(optuna.trial.FixedTrial(point))} for point in points]

    def demo_changes(self) -> str:
        """What the demo variant changes, for the console (``"its fixed settings unchanged"`` when nothing)."""
        return ", ".join(f"{k}={v}" for k, v in self.demo_fixed.items()) or "its fixed settings unchanged"

    # ---- derived spaces -------------------------------------------------------------------------------

    def with_settings(self, settings: Mapping[str, Any]) -> SearchSpace:
        """A one-configuration view: the fixed settings plus ``settings`` (``--set``), nothing searched; ``settings``
        win over the demo variant's sizes too."""
        from mer_ray.methods import with_overrides

        text = ", ".join(f"{k}={json.dumps(v)}" for k, v in settings.items())
        settings = dict(settings)
        return SearchSpace(
            name=self.name,
            description=f"{self.name} fixed settings with --set {text} (one configuration, no search)",
            fixed=with_overrides(self.fixed, settings, strict=True),
            # a portfolio's settings may land inside its members' recipes: its demo variant is then the whole dict
            demo_fixed=({**self.demo_fixed, **settings} if self.fixed.get("method") != "portfolio" else
                        with_overrides(self.params(demo=True), settings, strict=True) if self.demo_fixed else {}),
            reference=self.reference,
        )

    def with_fixed(self, **changes: Any) -> SearchSpace:
        """The same space with some fixed settings changed (tests and benchmarks)."""
        return replace(self, fixed={**self.fixed, **changes})

    @classmethod
    def of_recipe(cls, name: str, params: Mapping[str, Any], description: str = "") -> SearchSpace:
        """A fixed one-configuration space of a complete parameter dict (benchmarks and tests)."""
        return cls(name=name, description=description or f"{name}: a fixed recipe", fixed=dict(params))
