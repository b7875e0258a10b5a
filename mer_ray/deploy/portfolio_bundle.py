"""Portfolio bundles: a portfolio configuration (method ``portfolio``, :mod:`mer_ray.methods.portfolio`) fitted on
ALL subjects of a features folder (:mod:`mer_ray.deploy.portfolio_fit`), saved without pickles
(:mod:`mer_ray.deploy.portfolio_save`, its model card :mod:`mer_ray.deploy.portfolio_card`), read back by
:func:`mer_ray.deploy.bundle_load.load_bundle`. This module holds the format: the members as a bundle holds them, the
loaded :class:`PortfolioBundle` and its prediction, and :func:`load_portfolio`.

Layout::

    BUNDLE/bundle.json                  "kind": "portfolio"; the PortfolioConfig; the combination (weights,
                                        temperatures, out-of-fold figures); per member its kind and files; the
                                        preprocessing; SHA-256 of every file below (the sub-bundles' included)
    BUNDLE/README.md                    the model card
    BUNDLE/probe_<name>.npz             a linear_probe member: scaler mean / scale, coef, intercept, classes
                                        (read with allow_pickle=False); its LinearConfig in bundle.json
    BUNDLE/members/<name>/              a network member: a network bundle (mer_ray.deploy.bundle) holding its
                                        networks (crossfit: the cross-fitted ones, one group per subject group;
                                        else the ones refitted on every clip, one group)

Prediction (:meth:`PortfolioBundle.predict`): the probe's pooled flow -> standardised -> ``x @ coef.T + intercept``
-> softmax; each network group's scores -> probabilities, averaged over the groups; then the stored combination.

AU detection (``"task": "au"``; :mod:`mer_ray.deploy.au_bundle`): the probe member is one binary probe per AU
(``probe_<name>_AU<k>.npz``), a network group's networks have one sigmoid per AU and skip the AUs too rare among the
group's training clips (``groups_detect`` in bundle.json; NaN, left out of the mean over the groups), the
combination is the per-AU ``AuCombination``, an AU present above its threshold.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mer_ray.data.features import FeatureSet
from mer_ray.deploy import au_bundle
from mer_ray.deploy.au_bundle import AuDecision
from mer_ray.deploy.bundle import Bundle, BundleError
from mer_ray.deploy.bundle_load import load_bundle
from mer_ray.deploy.probe_arrays import AuProbe, ProbeArrays
from mer_ray.evaluation.au_task import decide
from mer_ray.methods.linear import LinearConfig
from mer_ray.methods.portfolio_au_combination import AuCombination, au_probabilities
from mer_ray.methods.portfolio_combination import Combination, probabilities
from mer_ray.methods.portfolio_config import PortfolioConfig
from mer_ray.training.ensemble import ensemble_prediction

if TYPE_CHECKING:
    from preprocessing.vision.clip import PreprocessConfig

KIND = "portfolio"
SCORE_KIND = "probability (portfolio combination)"
AU_SCORE_KIND = f"{au_bundle.SCORE_KIND} (portfolio combination)"
MEMBERS_DIR = "members"


# ---- the members as the bundle holds them ---------------------------------------------------------------------


@dataclass
class CrossfitNetworks:
    """A crossfit network member: its networks (a network bundle, or the fitted ones in memory) and which of them
    belong to which subject group (a group's networks are averaged as ``train_fold`` averages an ensemble).
    AU detection: ``active`` says per group which AUs its networks detect (``train_au_fold``'s skip rule on the
    group's training subjects); a group's skipped AUs are NaN and left out of the mean over the groups."""

    bundle: Bundle
    groups: list[list[int]]  # per subject group, the indices of its networks in ``bundle.members``
    active: list[np.ndarray] | None = None  # AU detection: per group, (K,) bool

    def probabilities(self, features: FeatureSet, device: str = "cpu") -> np.ndarray:
        """(N, C) the groups' probabilities of every clip, averaged (``portfolio.out_of_fold``'s held-out score;
        AU detection: over the groups that detect the AU, ``portfolio._mean_held``)."""
        probs = [self.group_probabilities(features, g, device) for g in range(len(self.groups))]
        if self.active is None:
            return np.mean(probs, axis=0)
        with warnings.catch_warnings():  # an AU no group detects stays NaN
            warnings.simplefilter("ignore", RuntimeWarning)
            return np.nanmean(probs, axis=0)

    def group_probabilities(self, features: FeatureSet, g: int, device: str = "cpu") -> np.ndarray:
        members = [self.bundle.members[k] for k in self.groups[g]]
        if self.active is not None:  # as a fold of train_au_fold scores, then portfolio_au_combination.au_probabilities
            _, scores = decide(self.bundle.au_probabilities(features, members, device), self.active[g])
            return au_probabilities(scores)
        _, scores = ensemble_prediction([self.bundle.member_prediction(features, m, device) for m in members])
        return probabilities(scores)

    def add_group(self, fitted) -> None:
        """Add the networks of one fit (a :class:`~mer_ray.deploy.network_fit.FittedModel`) as the next group."""
        first = len(self.bundle.members)
        self.bundle.members.extend(fitted.members)
        self.groups.append(list(range(first, len(self.bundle.members))))
        if self.active is not None:
            self.active.append(np.asarray(fitted.au.active, bool))


def network_group(fitted) -> CrossfitNetworks:
    """The networks of one fit (a :class:`~mer_ray.deploy.network_fit.FittedModel`) as a member of one group."""
    networks = CrossfitNetworks(Bundle(Path(), {}, fitted.config, None), [], None if fitted.au is None else [])
    networks.add_group(fitted)
    return networks


PortfolioMember = ProbeArrays | AuProbe | CrossfitNetworks


def member_probabilities(members: dict[str, PortfolioMember], order: tuple[str, ...], features: FeatureSet,
                         device: str = "cpu") -> list[np.ndarray]:
    """Every member's (N, C) probabilities of ``features``, in ``order`` (the combination's); AU detection: (N, K)
    probabilities of presence, NaN for an AU the member skipped."""
    out = []
    for name in order:
        member = members[name]
        if isinstance(member, ProbeArrays):
            out.append(probabilities(member.scores(features)))
        elif isinstance(member, AuProbe):
            out.append(au_probabilities(member.probabilities(features)))
        else:
            out.append(member.probabilities(features, device))
    return out


def combined_prediction(combination: Combination | AuCombination, probs: list[np.ndarray],
                        au: AuDecision | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(y_pred int64, scores float32)`` of the combined probabilities (as ``portfolio.fit_predict``; AU detection:
    :meth:`AuDecision.decide` of them)."""
    scores = combination(probs).astype(np.float32)
    if au is not None:
        return au.decide(scores)
    return scores.argmax(axis=1).astype(np.int64), scores


@dataclass
class PortfolioBundle:
    """A loaded portfolio bundle: call :meth:`predict` on a ``FeatureSet`` made with :attr:`preprocess`."""

    root: Path
    info: dict[str, Any]
    config: PortfolioConfig
    preprocess: PreprocessConfig
    members: dict[str, PortfolioMember]
    combination: Combination | AuCombination
    au: AuDecision | None = None  # AU detection

    @property
    def labels(self) -> list[str]:
        return list(self.info["labels"])

    @property
    def task(self) -> str:
        return "emotion" if self.au is None else "au"

    @property
    def score_kind(self) -> str:
        return SCORE_KIND if self.au is None else AU_SCORE_KIND

    def member_probabilities(self, features: FeatureSet, device: str = "cpu") -> list[np.ndarray]:
        return member_probabilities(self.members, self.combination.members, features, device)

    def predict(self, features: FeatureSet, device: str = "cpu") -> tuple[np.ndarray, np.ndarray]:
        """``(y_pred (N,) int64, scores (N, 3) float32)``: the combination of the members' probabilities (AU
        detection: (N, K) each)."""
        return combined_prediction(self.combination, self.member_probabilities(features, device), self.au)


# ---- loading ----------------------------------------------------------------------------------------------------


def load_portfolio(root: Path, info: dict[str, Any], preprocess: PreprocessConfig, au: AuDecision | None = None,
                   device: str = "cpu") -> PortfolioBundle:
    """The portfolio bundle at ``root`` whose ``bundle.json`` (``info``) passed :func:`load_bundle`'s checks (format,
    version, task, preprocessing, checksums); ``au``: its AU decision (AU detection). Raises ``BundleError``."""
    try:
        config = PortfolioConfig.from_dict(info["portfolio_config"])
        record = info["combination"]
        order = tuple(record["members"])
        combination = (Combination if au is None else AuCombination)(
            record["combiner"], order, np.array([record["weights"][m] for m in order], np.float64),
            np.array([record["temperatures"][m] for m in order], np.float64), record.get("inner", {}))
        entries = {name: info["members"][name] for name in config.members}
    except (KeyError, TypeError, ValueError) as err:
        raise BundleError(f"{root}: incompatible bundle: this version cannot read its portfolio ({err})") from None
    if combination.combiner not in ("weights", "select") or set(order) != set(config.members):
        raise BundleError(f"{root}: incompatible bundle: combination {combination.combiner!r} of {list(order)}")
    members: dict[str, PortfolioMember] = {}
    for name, entry in entries.items():
        try:
            if entry["kind"] == "linear_probe":
                members[name] = load_probe_member(root, entry, au)
            elif entry["kind"] == "network":
                sub = load_bundle(root / entry["bundle"], device)
                if sub.info["preprocess"]["config_hash"] != info["preprocess"]["config_hash"]:
                    raise BundleError(f"{root}: member {name!r} was made with another preprocessing than the bundle")
                if sub.task != info.get("task", "emotion"):
                    raise BundleError(f"{root}: member {name!r} is a bundle of task {sub.task!r}, the portfolio of "
                                      f"task {info.get('task', 'emotion')!r}")
                groups = [[int(k) for k in group] for group in entry["groups"]]
                if sorted(k for group in groups for k in group) != list(range(len(sub.members))):
                    raise BundleError(f"{root}: member {name!r}: its groups do not cover its "
                                      f"{len(sub.members)} networks")
                active = None if au is None else [np.isin(au.names, detect) for detect in entry["groups_detect"]]
                if active is not None and len(active) != len(groups):
                    raise BundleError(f"{root}: member {name!r}: {len(active)} groups_detect for {len(groups)} groups")
                members[name] = CrossfitNetworks(sub, groups, active)
            else:
                raise BundleError(f"{root}: member {name!r} is of kind {entry['kind']!r}, which this version cannot "
                                  "read")
        except (KeyError, TypeError, ValueError, OSError) as err:
            if isinstance(err, BundleError):
                raise
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise BundleError(f"{root}: member {name!r} cannot be read ({first})") from None
    return PortfolioBundle(root, info, config, preprocess, members, combination, au)


def load_probe_member(root: Path, entry: dict[str, Any], au: AuDecision | None) -> ProbeArrays | AuProbe:
    """A ``linear_probe`` member: its arrays (AU detection: one file per AU, those of the AUs it detects)."""
    config = LinearConfig.from_dict(entry["config"])
    files = {"": entry["arrays"]} if au is None else dict(entry["arrays"])
    probes = {}
    for key, file in files.items():
        with np.load(root / file, allow_pickle=False) as arrays:
            probes[key] = ProbeArrays.from_arrays(config, dict(arrays))
    return probes[""] if au is None else AuProbe(config, au.names, probes)


__all__ = ["AU_SCORE_KIND", "KIND", "MEMBERS_DIR", "SCORE_KIND", "CrossfitNetworks", "PortfolioBundle",
           "PortfolioMember", "ProbeArrays", "combined_prediction", "load_portfolio", "member_probabilities",
           "network_group"]
