"""Portfolio bundles: a portfolio configuration (method ``portfolio``, :mod:`mer_ray.methods.portfolio`) fitted on
ALL subjects of a features folder, saved without pickles, read back by :func:`mer_ray.deploy.bundle.load_bundle`.

The fit (:func:`fit_portfolio`) is what one LOSO fold does with its training subjects, with every subject training:
the subjects are split into ``inner_folds`` subject-wise groups (the groups ``portfolio.out_of_fold`` makes); per
group, every member is fitted on the other groups and scores the group's clips (out-of-fold probabilities); the
combination (temperatures and weights) is fitted on those (``portfolio.fit_combination``). A ``crossfit`` network
member is the set of its inner-fold networks (one per group, each trained without that group), their probabilities
averaged; any other network member and a ``linear_probe`` member are refitted on every clip (the networks: as one
group). Only these member kinds can be exported.

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

AU detection (``fit_portfolio(..., au=task)``, ``"task": "au"``; :mod:`mer_ray.deploy.au_bundle`): as
``portfolio.fit_predict`` with ``au``: the probe member is one binary probe per AU (``probe_<name>_AU<k>.npz``), a
network group's networks have one sigmoid per AU and skip the AUs too rare among the group's training clips
(``groups_detect`` in bundle.json; NaN, left out of the mean over the groups), the combination is the per-AU
``AuCombination`` (temperatures and weights fitted by balanced BCE), an AU present above its threshold.
"""

from __future__ import annotations

import json
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mer_ray.data.features import FeatureSet
from mer_ray.deploy import au_bundle
from mer_ray.deploy.au_bundle import AuDecision
from mer_ray.deploy.bundle import (
    BUNDLE_JSON,
    MODEL_CARD,
    Bundle,
    BundleError,
    base_info,
    bundle_preprocess,
    card_ending,
    finish_bundle,
    load_bundle,
    loso_text,
    model_card,
    save_bundle,
    staging_folder,
    trained_on,
)
from mer_ray.deploy.probe_arrays import AuProbe, ProbeArrays, fit_au_probe
from mer_ray.evaluation.au_task import AuTask, decide
from mer_ray.infra.errors import UsageError
from mer_ray.infra.hashing import file_sha256
from mer_ray.methods.linear import LinearConfig
from mer_ray.methods.portfolio import AuCombination, Combination, PortfolioConfig, au_probabilities, probabilities
from mer_ray.training.config import TrainConfig
from mer_ray.training.ensemble import ensemble_prediction
from preprocessing.annotations.datasets import only_demo

if TYPE_CHECKING:
    from preprocessing.vision.clip import PreprocessConfig

KIND = "portfolio"
SCORE_KIND = "probability (portfolio combination)"
AU_SCORE_KIND = f"{au_bundle.SCORE_KIND} (portfolio combination)"
MEMBERS_DIR = "members"
SUPPORTED = ("a portfolio bundle holds linear_probe members (refitted on every subject) and network members "
             "(cross-fitted or refitted) with combiner 'weights' or 'select'")


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
        if self.active is not None:  # as a fold of train_au_fold scores, then portfolio.au_probabilities
            _, scores = decide(self.bundle.au_probabilities(features, members, device), self.active[g])
            return au_probabilities(scores)
        _, scores = ensemble_prediction([self.bundle.member_prediction(features, m, device) for m in members])
        return probabilities(scores)

    def add_group(self, fitted) -> None:
        """Add the networks of one fit (a :class:`~mer_ray.deploy.fitting.FittedModel`) as the next group."""
        first = len(self.bundle.members)
        self.bundle.members.extend(fitted.members)
        self.groups.append(list(range(first, len(self.bundle.members))))
        if self.active is not None:
            self.active.append(np.asarray(fitted.au.active, bool))


def network_group(fitted) -> CrossfitNetworks:
    """The networks of one fit (a :class:`~mer_ray.deploy.fitting.FittedModel`) as a member of one group."""
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


# ---- fitting ----------------------------------------------------------------------------------------------------


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

    from mer_ray.deploy.fitting import fit_all
    from mer_ray.evaluation.folds import inner_folds
    from mer_ray.methods.linear import describe, fit_linear
    from mer_ray.methods.portfolio import fit_au_combination, fit_combination, member_seed
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


# ---- saving -----------------------------------------------------------------------------------------------------


def save_portfolio(out: str | Path, fitted: FittedPortfolio, *, features: FeatureSet, seed: int,
                   source: dict[str, Any], loso: dict[str, Any] | None, notes: list[str] | None = None) -> Path:
    """Write a portfolio bundle folder (to a temporary sibling first, renamed when complete); arguments as
    :func:`mer_ray.deploy.bundle.save_bundle`'s."""
    out, tmp = staging_folder(out)
    preprocess = bundle_preprocess(features)
    config = fitted.config
    members: dict[str, dict[str, Any]] = {}
    k = len(fitted.subject_groups)
    for name in config.members:
        member = fitted.members[name]
        if isinstance(member, ProbeArrays):
            arrays = f"probe_{name}.npz"
            np.savez(tmp / arrays, **member.to_arrays())
            members[name] = {"kind": "linear_probe", "config": member.config.to_dict(), "arrays": arrays}
            continue
        if isinstance(member, AuProbe):  # one file per detected AU
            files = {au: member.file_name(name, au) for au in member.probes}
            for au, file in files.items():
                np.savez(tmp / file, **member.probes[au].to_arrays())
            members[name] = {"kind": "linear_probe", "config": member.config.to_dict(), "arrays": files}
            continue
        folder = f"{MEMBERS_DIR}/{name}"
        epochs = fitted.epochs[name]
        crossfit = name in config.crossfit
        note = (f"member {name!r} of the portfolio bundle {out}: {len(member.bundle.members)} cross-fitted networks, "
                f"{len(member.groups)} subject groups, each group's networks trained without that group's subjects "
                f"({'; '.join(', '.join(g) for g in fitted.subject_groups)}); the portfolio averages the groups' "
                "probabilities (this bundle on its own averages every network's scores)" if crossfit else
                f"member {name!r} of the portfolio bundle {out}: {len(member.bundle.members)} networks fitted on "
                "every clip, their scores averaged")
        sub_source = {"kind": "portfolio member", "member": name, "portfolio": source}
        sub_au = None  # AU detection: the portfolio's AUs that every group of this member detects
        if fitted.au is not None:
            sub_au = fitted.au.restricted(np.all(member.active, axis=0), "not detected by every subject group of "
                                          "this member (the portfolio's bundle.json lists each group's)")
        save_bundle(tmp / folder, config=member.bundle.config, members=member.bundle.members, features=features,
                    epochs=max(epochs), seed=seed, source=sub_source, loso=None,
                    notes=[note, f"epochs per group: {epochs}"], history=fitted.history.get(name, {}), au=sub_au)
        sub_info = json.loads((tmp / folder / BUNDLE_JSON).read_text())
        (tmp / folder / MODEL_CARD).write_text(model_card({**sub_info, "path": str(out / folder)}))
        members[name] = {"kind": "network", "crossfit": crossfit, "bundle": folder, "groups": member.groups,
                         "epochs_used": epochs}
        if member.active is not None:
            names = fitted.au.names
            members[name]["groups_detect"] = [[n for n, on in zip(names, active) if on] for active in member.active]
    files = {str(p.relative_to(tmp)): file_sha256(p) for p in sorted(tmp.rglob("*")) if p.is_file()}
    scores = SCORE_KIND if fitted.au is None else AU_SCORE_KIND
    info = base_info(KIND, features=features, preprocess=preprocess, seed=seed, source=source, loso=loso,
                     notes=notes, au=fitted.au) | {
        "portfolio_config": config.to_dict(),
        "classifier": {"kind": KIND, "scores": scores},
        "combination": fitted.combination.record(),
        "subject_groups": {f"g{g}": list(group) for g, group in enumerate(fitted.subject_groups)},
        "inner_folds": k,
        "members": members,
        "files": files,
        "seconds": {"total": fitted.seconds, **fitted.member_seconds},
    }
    return finish_bundle(tmp, out, info, portfolio_card)


def portfolio_card(info: dict[str, Any]) -> str:
    """The portfolio bundle's README.md."""
    feats, comb = info["features"], info["combination"]
    cfg = info["portfolio_config"]
    score = loso_text(info.get("loso"))
    lines = [
        "# mer-ray model bundle (portfolio)",
        "",
        f"{trained_on(info)}: {len(cfg['members'])} members whose probabilities are combined "
        f"({comb['combiner']}).",
        "",
        "## Model",
        "",
    ]
    for name in cfg["members"]:
        entry = info["members"][name]
        weight, temperature = comb["weights"][name], comb["temperatures"][name]
        if entry["kind"] == "linear_probe":
            c = entry["config"]
            files = entry["arrays"] if isinstance(entry["arrays"], str) else f"one per AU: {len(entry['arrays'])} files"
            what = (f"linear probe: masked ({', '.join(c['channels'])}) flow pooled to {c['pool']}x{c['pool']}, "
                    f"standardised, {c['classifier']}; refitted on every clip ({files})")
        elif entry.get("crossfit", True):
            what = (f"{len(entry['groups'])} cross-fitted networks (each trained without one of {info['inner_folds']} "
                    f"subject groups), their probabilities averaged; epochs {entry['epochs_used']} "
                    f"(the network bundle {entry['bundle']}/)")
        else:
            what = (f"{len(entry['groups'][0])} networks fitted on every clip, their scores averaged; epochs "
                    f"{entry['epochs_used']} (the network bundle {entry['bundle']}/)")
        lines.append(f"- `{name}` (weight {weight:.2f}, temperature {temperature:g}): {what}.")
    inner = comb.get("inner", {}).get("combination", {})
    figure = (f"UAR {inner['uar']:.4f}" if "uar" in inner else
              f"mean F1 over the AUs (macro) {inner['f1_macro']:.4f}" if "f1_macro" in inner else "")
    if figure:
        lines.append(f"- Weights and temperatures fitted on the out-of-fold probabilities of the training clips "
                     f"({info['inner_folds']} subject-wise groups), objective {cfg['objective']}: out-of-fold "
                     f"{figure} (an in-sample choice: not an estimate).")
    lines += [
        f"- Preprocessing {info['preprocess']['config_hash']} (dlib alignment, masks, TV-L1 flow; the full "
        "configuration is in bundle.json): predict applies exactly this.",
        f"- Trained on features {feats['folder']} (content hash {str(feats['content_hash'])[:16]}), "
        f"protocol {feats['protocol']}, classes {feats['class_counts']}.",
        f"- Scores: {info['classifier']['scores']}.",
        "",
        "## How good it is",
        "",
        f"- {score}.",
        "- The bundle itself is fitted on every subject, so no held-out estimate of THIS model exists: the LOSO "
        "figure describes the configuration.",
    ]
    return card_ending(lines, info, only_demo(feats["datasets"]))


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


def network_member_configs(config: PortfolioConfig) -> list[TrainConfig]:
    """The network members' inner-fold configurations (what a portfolio bundle trains)."""
    return [c for c in (config.member_config(name, inner=True) for name in config.members)
            if isinstance(c, TrainConfig)]


__all__ = ["SCORE_KIND", "CrossfitNetworks", "FittedPortfolio", "PortfolioBundle", "ProbeArrays",
           "check_exportable", "fit_portfolio", "load_portfolio", "portfolio_card", "save_portfolio"]
