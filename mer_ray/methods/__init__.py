"""Methods: every kind of model a LOSO fold can train, behind one interface.

A method turns a typed configuration plus a fold of the features (held-out labels masked) into a
:class:`~mer_ray.evaluation.folds.FoldResult`. The search, Ray Tune, pooling, Optuna, the report and ``--resume`` see
only
this interface, so a torch network and an sklearn pipeline on hand-made descriptors run alike: one Tune trial per
(configuration, held-out subject), predictions and scores returned the same way.

A configuration dict names its method under ``"method"`` (default ``"network"``). A method that reads optional stored
arrays (landmarks, frame sequences) says so in ``requires``; :func:`check_inputs` refuses features that lack them
before any fold runs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mer_ray.data.features import FeatureSet, require_arrays
from mer_ray.evaluation.folds import FoldResult, FoldTask
from mer_ray.methods import hoof, lbptop, linear, mdmo, portfolio, portfolio_config
from mer_ray.training.config import TrainConfig

DEFAULT_METHOD = "network"


@dataclass(frozen=True)
class Method:
    """A registered method: its configuration class and its fold function.

    ``fit_predict(config, data, held_out, seed, exclude_subjects=..., device=...)`` trains on the non-hidden
    subjects of ``data`` and predicts ``held_out``; it must never read a hidden subject's label. ``requires``
    names the optional ``FeatureSet`` arrays it reads (``mer_ray.data.features.OPTIONAL_ARRAYS``: ``"landmarks"``,
    ``"sequence"``).
    """

    name: str
    config_class: type
    fit_predict: Callable[..., FoldResult]
    description: str
    requires: tuple[str, ...] = ()


def _network_fit_predict(config, data, held_out, seed, *, exclude_subjects=(), device=None, log=None,
                         on_epoch=None, au=None):
    from mer_ray.training.trainer import train_fold

    return train_fold(config, data, held_out, seed, exclude_subjects=exclude_subjects, device=device, log=log,
                      on_epoch=on_epoch, **({} if au is None else {"au": au}))


METHODS: dict[str, Method] = {
    "network": Method("network", TrainConfig, _network_fit_predict,
                      "a torch network (mer_ray.models), mer_ray.training.trainer"),
    "linear_probe": Method("linear_probe", linear.LinearConfig, linear.fit_predict,
                           "standardised, masked, pooled (u, v) flow + logistic regression (mer_ray.methods.linear)"),
    "hoof": Method("hoof", hoof.HoofConfig, linear.fit_predict,
                   "HOOF: magnitude-weighted flow orientation histograms per block + linear SVM "
                   "(mer_ray.methods.hoof)"),
    "mdmo": Method("mdmo", mdmo.MdmoConfig, linear.fit_predict,
                   "MDMO: main-direction mean flow of 36 landmark ROIs + linear SVM (mer_ray.methods.mdmo)",
                   requires=("landmarks",)),
    "lbptop": Method("lbptop", lbptop.LbpTopConfig, linear.fit_predict,
                     "LBP-TOP: uniform LBP histograms on XY / XT / YT of the frame sequence per block + linear SVM "
                     "(mer_ray.methods.lbptop)", requires=("sequence",)),
    "portfolio": Method("portfolio", portfolio_config.PortfolioConfig, portfolio.fit_predict,
                        "member recipes combined with weights fitted per outer fold on inner subject-wise folds of "
                        "the training subjects (mer_ray.methods.portfolio)"),
}


def list_methods() -> list[str]:
    return sorted(METHODS)


def get_method(name: str) -> Method:
    """The method called ``name``; an unknown name lists the valid ones."""
    if name not in METHODS:
        raise ValueError(f"unknown method {name!r}; valid methods: {', '.join(list_methods())}")
    return METHODS[name]


def check_inputs(method: str, features: FeatureSet) -> None:
    """Refuse ``features`` for ``method`` when it lacks an array the method ``requires``.

    Raises:
        mer_ray.data.features.FeaturesError: naming the method, what is missing and the preprocessing command
            that adds it.
    """
    require_arrays(features, get_method(method).requires, method)


def parse_config(values: dict[str, Any]) -> Any:
    """The typed configuration of a flat dict (a search-space sample or a stored ``configs/<id>.json``)."""
    method = get_method(values.get("method", DEFAULT_METHOD))
    return method.config_class.from_dict({k: v for k, v in values.items() if k != "method"} | {"method": method.name})


def applicable(params: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """The ``overrides`` that the method of ``params`` has a field for (a probe ignores ``epochs``)."""
    from dataclasses import fields

    method = get_method(params.get("method", DEFAULT_METHOD))
    names = {f.name for f in fields(method.config_class)}
    return {k: v for k, v in overrides.items() if k in names}


def with_overrides(params: dict[str, Any], overrides: dict[str, Any], *, strict: bool = False) -> dict[str, Any]:
    """``params`` with ``overrides`` laid over them (``--set``, smoke-test limits, demo sizes).

    A plain method takes every key (``strict``: unknown keys are refused later, by its configuration class) or only
    the keys it has a field for (not ``strict``: a probe ignores ``epochs``). A portfolio takes its own fields; a
    key ``MEMBER.KEY`` goes to that member's recipe; any other key goes to every member whose method has that field
    (``epochs=3``: the networks). Under ``strict`` a key that nothing takes is refused here.

    Raises:
        ValueError: ``strict`` and a key no field takes, or ``MEMBER.KEY`` naming no member.
    """
    from dataclasses import fields

    if params.get("method", DEFAULT_METHOD) != "portfolio":
        return {**params, **(overrides if strict else applicable(params, overrides))}
    out = {**params, "recipes": {name: dict(recipe) for name, recipe in params.get("recipes", {}).items()}}
    recipes, own = out["recipes"], {f.name for f in fields(portfolio_config.PortfolioConfig)}
    for key, value in overrides.items():
        member, dot, sub = key.partition(".")
        if dot:
            if member not in recipes:
                raise ValueError(f"--set {key}: the portfolio has no member {member!r}; members: "
                                 f"{', '.join(recipes)}")
            recipes[member][sub] = value
            continue
        if key in own:
            out[key] = value
            continue
        takers = [name for name, recipe in recipes.items() if applicable(recipe, {key: value})]
        if not takers and strict:
            mine = ", ".join(sorted(own - {"method"}))
            raise ValueError(f"unknown parameter {key!r}: neither the portfolio ({mine}) nor any of its members "
                             f"({', '.join(recipes)}) has it; MEMBER.KEY sets one member's")
        for name in takers:
            recipes[name][key] = value
    return out


def run_task(task: FoldTask, features: FeatureSet, device: str | None = None,
             log: Callable[[str], None] | None = None, on_epoch: Callable | None = None) -> FoldResult:
    """Run one fold task: mask the fold's hidden subjects, train, predict its held-out subjects.

    ``on_epoch``: a per-epoch callback (``mer_ray.training.context.OnEpoch``), for the methods that train in epochs.
    """
    data = features.with_masked_labels(list(task.fold.hidden))
    method = get_method(task.config.method)
    extra = {"on_epoch": on_epoch} if on_epoch is not None and _takes(method.fit_predict, "on_epoch") else {}
    if task.au is not None:  # AU detection: multi-label targets from the training clips' sheet codes
        check_task(task.config, task.au)
        extra["au"] = task.au
    return method.fit_predict(task.config, data, list(task.fold.held_out), task.seed,
                              exclude_subjects=task.fold.exclude, device=device, log=log, **extra)


def check_task(config: Any, au: Any) -> None:
    """Refuse a configuration that cannot run the AU task (``au`` set): a network must train its own head with a
    per-AU sigmoid (``classifier="softmax"``, which becomes the multi-label head); a portfolio's members likewise.

    Raises:
        ValueError: naming the configuration's (or member's) classifier.
    """
    if au is None:
        return
    if getattr(config, "method", None) == "portfolio":
        for name in config.members:
            try:
                check_task(config.member_config(name, inner=False), au)
            except ValueError as err:
                raise ValueError(f"portfolio member {name!r}: {err}") from None
        return
    if getattr(config, "method", None) == "network" and config.classifier != "softmax":
        raise ValueError(f"--task au: classifier={config.classifier!r} has no multi-label form; a network detects "
                         "AUs with its own head (one sigmoid per AU): use classifier=softmax")


def _takes(function: Callable, name: str) -> bool:
    import inspect

    return name in inspect.signature(function).parameters
