"""Fitting a portfolio configuration (method ``portfolio``, :mod:`mer_ray.methods.portfolio`) on ALL subjects of a
features folder, for a portfolio bundle (:mod:`mer_ray.deploy.portfolio_bundle`; written by
:func:`mer_ray.deploy.portfolio_save.save_portfolio`).

The fit (:func:`fit_portfolio`) is what one LOSO fold does with its training subjects, with every subject training:
the subjects are split into ``inner_folds`` subject-wise groups (the groups ``portfolio.out_of_fold`` makes); per
group, every member is fitted on the other groups and scores the group's clips (out-of-fold probabilities); the
combination (temperatures and weights) is fitted on those (``portfolio_combination.fit_combination``). A ``crossfit``
network member is the set of its inner-fold networks (one per group, each trained without that group), their
probabilities averaged; any other network member and a ``linear_probe`` member are refitted on every clip (the networks:
as one group). Only these member kinds can be exported (:func:`check_exportable`).

AU detection (``fit_portfolio(..., au=task)``): as ``portfolio.fit_predict`` with ``au``: the probe member is one
binary probe per AU, a network group's networks have one sigmoid per AU and skip the AUs too rare among the group's
training clips, the combination is the per-AU ``AuCombination`` (temperatures and weights fitted by balanced BCE).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mer_ray.data.features import FeatureSet
from mer_ray.deploy.au_bundle import AuDecision
from mer_ray.deploy.bundle import Bundle
from mer_ray.deploy.portfolio_bundle import CrossfitNetworks, PortfolioMember, combined_prediction, network_group
from mer_ray.deploy.probe_arrays import ProbeArrays, fit_au_probe
from mer_ray.evaluation.au_task import AuTask
from mer_ray.infra.errors import UsageError
from mer_ray.methods.portfolio_au_combination import AuCombination, au_probabilities
from mer_ray.methods.portfolio_combination import Combination, probabilities
from mer_ray.methods.portfolio_config import PortfolioConfig
from mer_ray.training.config import TrainConfig

SUPPORTED = ("a portfolio bundle holds linear_probe members (refitted on every subject) and network members "
             "(cross-fitted or refitted) with combiner 'weights' or 'select'")


@dataclass
class FittedPortfolio:
    """A portfolio fitted on every clip of a FeatureSet and what its bundle records."""

    config: PortfolioConfig
    members: dict[str, PortfolioMember]
    combination: Combination | AuCombination
    subject_groups: list[list[str]]
    scores: np.ndarray  # (N, 3) float32 the fitted portfolio's scores of the training clips (the round-trip check)
    seconds: float
    member_seconds: dict[str, float]
    epochs: dict[str, list[int]] = field(default_factory=dict)  # network member -> epochs per group
    history: dict[str, dict[str, list[float]]] = field(default_factory=dict)  # network member -> losses per group
    au: AuDecision | None = None  # AU detection: scores are (N, K), NaN for skipped AUs


def check_exportable(config: PortfolioConfig) -> None:
    """Refuse, in one :class:`UsageError` line, a portfolio with a member or combiner a bundle cannot hold."""
    if config.combiner == "stack":
        raise UsageError(f"portfolio combiner 'stack' cannot be exported as a bundle; {SUPPORTED}")
    for name in config.members:
        method = config.recipes[name].get("method", "network")
        crossfit = name in config.crossfit
        if method == "linear_probe" and not crossfit:
            continue
        if method == "network":
            continue
        what = f"a crossfit {method} member" if crossfit else f"method {method!r}"
        raise UsageError(f"portfolio member {name!r} ({what}) cannot be exported as a bundle; {SUPPORTED}")


def fit_portfolio(config: PortfolioConfig, data: FeatureSet, seed: int, device: str | None = None,
                  log: Callable[[str], None] | None = None, au: AuTask | None = None) -> FittedPortfolio:
    """Fit ``config`` on every clip of ``data`` as a LOSO fold fits its training subjects (see the module doc).

    Seeds: ``portfolio.member_seed(seed, member, "g<k>")`` per inner fit, ``"final"`` for the probe's refit; the
    subject groups: ``inner_folds(subjects, "\\0outer", config.inner_folds, seed)``, as ``portfolio.out_of_fold``.
    ``au``: AU detection, as ``portfolio.fit_predict`` with ``au``: every member detects every AU (each network
    group and the probe skipping the AUs with too few positives among its training clips), the combination is
    ``fit_au_combination`` on the coded clips' out-of-fold probabilities (:func:`portfolio_decision`).
    """
    import torch

    from mer_ray.deploy.network_fit import fit_all
    from mer_ray.evaluation.folds import inner_folds
    from mer_ray.methods.linear import describe, fit_linear
    from mer_ray.methods.portfolio import member_seed
    from mer_ray.methods.portfolio_au_combination import fit_au_combination
    from mer_ray.methods.portfolio_combination import fit_combination
    from mer_ray.training.classifiers import decision_scores

    check_exportable(config)
    start = time.monotonic()
    labels = data.labels
    if au is None and np.any(labels < 0):
        raise ValueError("every clip needs a label to fit on all subjects; the features carry masked labels")
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    subjects = data.meta["subject"].to_numpy()
    groups = [list(f.held_out) for f in inner_folds(data.subjects, "\0outer", config.inner_folds, seed)]
    n = len(data)
    oof = {name: np.full((n, 3 if au is None else len(au.aus)), np.nan) for name in config.members}
    seconds = dict.fromkeys(config.members, 0.0)
    networks: dict[str, CrossfitNetworks] = {}
    epochs: dict[str, list[int]] = {}
    history: dict[str, dict[str, list[float]]] = {}
    for g, group in enumerate(groups):
        held = np.isin(subjects, group)
        train = np.flatnonzero(~held)
        held_data = data.subset(np.flatnonzero(held))
        for name in config.members:
            member_config = config.member_config(name, inner=True)
            member = member_seed(seed, name, f"g{g}")
            started = time.monotonic()
            if isinstance(member_config, TrainConfig):
                fitted = fit_all(member_config, data.subset(train), member, device=device, log=log, au=au)
                if name not in config.crossfit:  # out-of-fold scores only; the member is refitted on every clip
                    oof[name][held] = network_group(fitted).group_probabilities(held_data, 0, device)
                    seconds[name] += time.monotonic() - started
                    continue
                part = networks.setdefault(name, CrossfitNetworks(Bundle(Path(), {}, fitted.config, None), [],
                                                                  None if au is None else []))
                part.add_group(fitted)
                epochs.setdefault(name, []).append(int(fitted.epochs))
                history.setdefault(name, {}).update({f"g{g}_{k}": list(v) for k, v in fitted.history.items()})
                oof[name][held] = part.group_probabilities(held_data, g, device)
            elif au is not None:  # one probe per AU, as fit_predict_au
                probe, _, _ = fit_au_probe(member_config, data.subset(train), au, member)
                oof[name][held] = au_probabilities(probe.probabilities(held_data))
            else:
                x = describe(member_config, data)
                estimator = fit_linear(member_config, x[train], labels[train], subjects[train], member)
                oof[name][held] = probabilities(decision_scores(estimator, x[held]))
            seconds[name] += time.monotonic() - started
            if log is not None:
                log(f"group {g + 1}/{len(groups)}: {name} fitted in {time.monotonic() - started:.1f} s")
    if au is not None:  # NaN: an AU an inner fit skipped; the targets: the coded clips' AU presence
        from mer_ray.deploy.au_bundle import all_targets

        targets = all_targets(au, data)
        combination = fit_au_combination(config, [oof[name][targets.rows] for name in config.members], targets.y)
    elif any(np.isnan(p).any() for p in oof.values()):
        raise RuntimeError("a training clip got no out-of-fold score")
    else:
        combination = fit_combination(config, [oof[name] for name in config.members], labels, subjects)
    members: dict[str, PortfolioMember] = dict(networks)
    # the training clips' scores by the fitted models themselves (the probe: its sklearn pipeline; the networks in
    # memory, on the CPU as a loaded bundle scores them): what the bundle read back must reproduce
    reference = {name: part.probabilities(data, "cpu") for name, part in networks.items()}
    for name in config.members:
        if name in networks:
            continue
        started = time.monotonic()
        member_config = config.member_config(name, inner=False)
        if isinstance(member_config, TrainConfig):  # a refitted network member: its networks on every clip
            fitted = fit_all(member_config, data, member_seed(seed, name, "final"), device=device, log=log, au=au)
            members[name] = network_group(fitted)
            epochs[name] = [int(fitted.epochs)]
            history[name] = {f"final_{k}": list(v) for k, v in fitted.history.items()}
            seconds[name] += time.monotonic() - started
            reference[name] = members[name].probabilities(data, "cpu")
            continue
        if au is not None:
            members[name], probs, _ = fit_au_probe(member_config, data, au, member_seed(seed, name, "final"))
            reference[name] = au_probabilities(probs)
        else:
            x = describe(member_config, data)
            estimator = fit_linear(member_config, x, labels, subjects, member_seed(seed, name, "final"))
            members[name] = ProbeArrays.from_pipeline(member_config, estimator)
            reference[name] = probabilities(decision_scores(estimator, x))
        seconds[name] += time.monotonic() - started
    probs = [reference[name] for name in combination.members]
    decision = None if au is None else portfolio_decision(au, data, combination(probs))
    _, scores = combined_prediction(combination, probs, decision)
    return FittedPortfolio(config, members, combination, groups, scores, time.monotonic() - start, seconds, epochs,
                           history, decision)


def portfolio_decision(au: AuTask, data: FeatureSet, combined: np.ndarray) -> AuDecision:
    """The AUs an AU portfolio detects, as ``portfolio.fit_predict`` decides a fold's: those the members fitted on
    every clip do not skip (the skip rule on all of ``data``'s coded clips) and that some member scores
    (``combined``, the training clips' combined probabilities, not all NaN: a cross-fitted member whose every
    group skipped an AU leaves it unscored)."""
    from mer_ray.deploy.au_bundle import all_targets

    decision = AuDecision.of(au, all_targets(au, data))
    return decision.restricted(~np.isnan(combined).all(axis=0), "no member scores it (every cross-fitted subject "
                               "group skipped it)")


def network_member_configs(config: PortfolioConfig) -> list[TrainConfig]:
    """The network members' inner-fold configurations (what a portfolio bundle trains)."""
    return [c for c in (config.member_config(name, inner=True) for name in config.members)
            if isinstance(c, TrainConfig)]


__all__ = ["SUPPORTED", "FittedPortfolio", "check_exportable", "fit_portfolio", "network_member_configs",
           "portfolio_decision"]
