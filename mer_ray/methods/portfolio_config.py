"""The configuration of a portfolio (method ``portfolio``, :mod:`mer_ray.methods.portfolio`): its members and their
recipes, the inner folds that give the out-of-fold scores, and the rule that combines the members."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from mer_ray.infra.validation import check_fields, from_dict, setting

COMBINERS = ("weights", "select", "stack")
OBJECTIVES = ("log_loss", "uar")


@dataclass(frozen=True)
class PortfolioConfig:
    """Members, inner folds and combination rule of a portfolio.

    Attributes:
        method: ``"portfolio"``.
        members: the members combined, names of ``recipes`` (order = the order of weights in the records).
        recipes: member name -> the member's complete configuration dict (any method but a portfolio).
        inner_settings: member name -> settings laid over its recipe inside the inner folds only (a cheaper
            variant: ``{"shufflenet": {"ensemble": 1}}``); keys the member's method has no field for are ignored.
        inner_folds: subject-wise folds of the training subjects that give the out-of-fold scores (>= 2).
        combiner: ``"weights"`` (simplex-grid weights on calibrated probabilities), ``"select"`` (the best single
            member) or ``"stack"`` (logistic regression on the members' log-probabilities).
        objective: what ``"weights"`` / ``"select"`` optimise on the OOF scores: ``"log_loss"`` (class-balanced)
            or ``"uar"`` (ties broken by log-loss).
        weight_step: resolution of the weight simplex grid (1 / weight_step must be a whole number).
        calibrate: fit a temperature per member on its OOF scores before combining (``"weights"`` / ``"select"``).
        stack_c_grid: candidates of the stacker's C (``"stack"``), chosen by grouped K-fold on the OOF rows.
        record_inner: also record the out-of-fold probabilities of the training clips in ``FoldResult.details``
            (``inner_ids``, ``inner_scores``: to compare combination rules offline on the same members).
        fallback: a member (``"probe"``) the combination falls back to, alone, unless the fitted combination is
            ahead of it on the training subjects' out-of-fold predictions: its out-of-fold UAR must beat the
            member's in at least ``fallback_confidence`` of bootstrap replicates over the training subjects
            (``""``: no fallback). The simpler member wins whenever the inner folds do not show the others ahead.
            Emotion classes only: an AU-detection portfolio's combination has no fallback.
        fallback_confidence: the share of replicates the combination must be ahead in to be used (0.5-1).
        crossfit: members whose held-out scores are the mean of their ``inner_folds`` inner-fold models' scores
            instead of a final fit on all training subjects (an ensemble of ``inner_folds`` models, each trained
            on (inner_folds - 1) / inner_folds of the training subjects; no extra training).
    """

    method: str = setting("portfolio", choices=("portfolio",))
    members: tuple[str, ...] = ("probe", "sssnet", "shufflenet")
    recipes: dict[str, dict[str, Any]] = field(default_factory=dict)
    inner_settings: dict[str, dict[str, Any]] = field(default_factory=dict)
    inner_folds: int = setting(3, ge=2)
    combiner: str = setting("weights", choices=COMBINERS)
    objective: str = setting("log_loss", choices=OBJECTIVES)
    weight_step: float = setting(0.1, gt=0, le=1)
    calibrate: bool = True
    stack_c_grid: tuple[float, ...] = setting((0.01, 0.1, 1.0, 10.0), gt=0)
    record_inner: bool = False
    crossfit: tuple[str, ...] = ()
    fallback: str = ""
    fallback_confidence: float = setting(0.8, ge=0.5, le=1)

    def __post_init__(self):
        object.__setattr__(self, "members", tuple(self.members))
        object.__setattr__(self, "crossfit", tuple(self.crossfit))
        object.__setattr__(self, "stack_c_grid", tuple(float(c) for c in self.stack_c_grid))
        check_fields(self)
        if not self.members:
            raise ValueError("members: expected at least one member")
        if len(set(self.members)) != len(self.members):
            raise ValueError(f"members must be distinct; got {list(self.members)}")
        missing = [m for m in self.members if m not in self.recipes]
        if missing:
            raise ValueError(f"members {missing} have no recipe; recipes: {sorted(self.recipes)}")
        for key in ("inner_settings", "crossfit"):
            unknown = sorted(set(getattr(self, key)) - set(self.members))
            if unknown:
                raise ValueError(f"{key} names {unknown}, which are not members {list(self.members)}")
        if self.fallback and self.fallback not in self.members:
            raise ValueError(f"fallback {self.fallback!r} is not a member {list(self.members)}")
        steps = 1.0 / self.weight_step
        if abs(steps - round(steps)) > 1e-9:
            raise ValueError(f"weight_step={self.weight_step}: 1 / weight_step must be a whole number")
        for name in self.members:  # each member's configuration is checked now, not in the first fold
            if self.recipes[name].get("method") == "portfolio":
                raise ValueError(f"member {name!r}: a portfolio cannot be a member of a portfolio")
            for inner in (False, True):
                try:
                    self.member_config(name, inner=inner)
                except ValueError as error:
                    raise ValueError(f"member {name!r}{' (inner folds)' if inner else ''}: {error}") from None

    @classmethod
    def from_dict(cls, values: dict) -> PortfolioConfig:
        return from_dict(cls, values, "PortfolioConfig", "parameters")

    def to_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    def member_config(self, name: str, *, inner: bool) -> Any:
        """The typed configuration of member ``name`` (its inner-fold variant when ``inner``)."""
        from mer_ray.methods import applicable, parse_config

        params = dict(self.recipes[name])
        if inner and name in self.inner_settings:
            params.update(applicable(params, dict(self.inner_settings[name])))
        return parse_config(params)
