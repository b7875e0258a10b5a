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
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mer_ray.data.features import FeatureSet
from mer_ray.deploy.bundle import (
    BUNDLE_JSON,
    FORMAT,
    FORMAT_VERSION,
    MODEL_CARD,
    Bundle,
    BundleError,
    bundle_preprocess,
    card_ending,
    features_record,
    load_bundle,
    model_card,
    move_into_place,
    package_versions,
    save_bundle,
)
from mer_ray.evaluation.metrics import CLASS_NAMES
from mer_ray.infra.errors import UsageError
from mer_ray.infra.hashing import file_sha256
from mer_ray.methods.linear import LinearConfig, pooled_flow
from mer_ray.methods.portfolio import Combination, PortfolioConfig, probabilities
from mer_ray.training.classifiers import scores_by_class
from mer_ray.training.config import TrainConfig
from mer_ray.training.ensemble import ensemble_prediction
from preprocessing.annotations.datasets import only_demo

if TYPE_CHECKING:
    from preprocessing.vision.clip import PreprocessConfig

KIND = "portfolio"
SCORE_KIND = "probability (portfolio combination)"
MEMBERS_DIR = "members"
SUPPORTED = ("a portfolio bundle holds linear_probe members (refitted on every subject) and network members "
             "(cross-fitted or refitted) with combiner 'weights' or 'select'")


# ---- the members as the bundle holds them ---------------------------------------------------------------------


@dataclass
class ProbeArrays:
    """A fitted linear probe (StandardScaler + linear classifier) as numeric arrays."""

    config: LinearConfig
    mean: np.ndarray  # (D,) float64 scaler mean_
    scale: np.ndarray  # (D,) float64 scaler scale_
    coef: np.ndarray  # (K, D) or (1, D) float64
    intercept: np.ndarray  # (K,) or (1,) float64
    classes: np.ndarray  # (K,) int64

    @classmethod
    def from_pipeline(cls, config: LinearConfig, pipeline) -> ProbeArrays:
        scaler, model = pipeline.steps[0][1], pipeline.steps[-1][1]
        if len(pipeline.steps) != 2 or not hasattr(scaler, "scale_"):
            raise UsageError(f"the probe's pipeline {[name for name, _ in pipeline.steps]} is not scaler + linear "
                             "classifier; it cannot be exported")
        return cls(config, np.asarray(scaler.mean_, np.float64), np.asarray(scaler.scale_, np.float64),
                   np.asarray(model.coef_, np.float64), np.asarray(model.intercept_, np.float64).reshape(-1),
                   np.asarray(model.classes_, np.int64))

    def to_arrays(self) -> dict[str, np.ndarray]:
        return {"mean": self.mean, "scale": self.scale, "coef": self.coef, "intercept": self.intercept,
                "classes": self.classes}

    @classmethod
    def from_arrays(cls, config: LinearConfig, arrays: dict[str, np.ndarray]) -> ProbeArrays:
        return cls(config, *(np.asarray(arrays[k]) for k in ("mean", "scale", "coef", "intercept")),
                   np.asarray(arrays["classes"], np.int64))

    def scores(self, features: FeatureSet) -> np.ndarray:
        """(N, 3) float32 decision values of every clip, columns by class (as ``decision_scores`` of the pipeline:
        the standardisation in the pooled flow's float32, as sklearn's scaler keeps it)."""
        x = pooled_flow(self.config, features, np.arange(len(features)))
        z = (x - self.mean).astype(x.dtype)
        z = (z / self.scale).astype(x.dtype)
        decision = z @ self.coef.T + self.intercept
        return scores_by_class(decision, self.classes)


@dataclass
class CrossfitNetworks:
    """A crossfit network member: its networks (a network bundle, or the fitted ones in memory) and which of them
    belong to which subject group (a group's networks are averaged as ``train_fold`` averages an ensemble)."""

    bundle: Bundle
    groups: list[list[int]]  # per subject group, the indices of its networks in ``bundle.members``

    def probabilities(self, features: FeatureSet, device: str = "cpu") -> np.ndarray:
        """(N, 3) the groups' probabilities of every clip, averaged (``portfolio.out_of_fold``'s held-out score)."""
        return np.mean([self.group_probabilities(features, g, device) for g in range(len(self.groups))], axis=0)

    def group_probabilities(self, features: FeatureSet, g: int, device: str = "cpu") -> np.ndarray:
        members = [self.bundle.members[k] for k in self.groups[g]]
        _, scores = ensemble_prediction([self.bundle.member_prediction(features, m, device) for m in members])
        return probabilities(scores)


def member_probabilities(members: dict[str, ProbeArrays | CrossfitNetworks], order: tuple[str, ...],
                         features: FeatureSet, device: str = "cpu") -> list[np.ndarray]:
    """Every member's (N, 3) probabilities of ``features``, in ``order`` (the combination's)."""
    out = []
    for name in order:
        member = members[name]
        if isinstance(member, ProbeArrays):
            out.append(probabilities(member.scores(features)))
        else:
            out.append(member.probabilities(features, device))
    return out


def combined_prediction(combination: Combination, probs: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """``(y_pred int64, scores float32)`` of the combined probabilities (as ``portfolio.fit_predict``)."""
    scores = combination(probs).astype(np.float32)
    return scores.argmax(axis=1).astype(np.int64), scores


@dataclass
class PortfolioBundle:
    """A loaded portfolio bundle: call :meth:`predict` on a ``FeatureSet`` made with :attr:`preprocess`."""

    root: Path
    info: dict[str, Any]
    config: PortfolioConfig
    preprocess: PreprocessConfig
    members: dict[str, ProbeArrays | CrossfitNetworks]
    combination: Combination

    @property
    def labels(self) -> list[str]:
        return list(self.info["labels"])

    @property
    def score_kind(self) -> str:
        return SCORE_KIND

    def member_probabilities(self, features: FeatureSet, device: str = "cpu") -> list[np.ndarray]:
        return member_probabilities(self.members, self.combination.members, features, device)

    def predict(self, features: FeatureSet, device: str = "cpu") -> tuple[np.ndarray, np.ndarray]:
        """``(y_pred (N,) int64, scores (N, 3) float32)``: the combination of the members' probabilities."""
        return combined_prediction(self.combination, self.member_probabilities(features, device))


# ---- fitting ----------------------------------------------------------------------------------------------------


@dataclass
class FittedPortfolio:
    """A portfolio fitted on every clip of a FeatureSet and what its bundle records."""

    config: PortfolioConfig
    members: dict[str, ProbeArrays | CrossfitNetworks]
    combination: Combination
    subject_groups: list[list[str]]
    scores: np.ndarray  # (N, 3) float32 the fitted portfolio's scores of the training clips (the round-trip check)
    seconds: float
    member_seconds: dict[str, float]
    epochs: dict[str, list[int]] = field(default_factory=dict)  # network member -> epochs per group
    history: dict[str, dict[str, list[float]]] = field(default_factory=dict)  # network member -> losses per group


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
                  log: Callable[[str], None] | None = None) -> FittedPortfolio:
    """Fit ``config`` on every clip of ``data`` as a LOSO fold fits its training subjects (see the module doc).

    Seeds: ``portfolio.member_seed(seed, member, "g<k>")`` per inner fit, ``"final"`` for the probe's refit; the
    subject groups: ``inner_folds(subjects, "\\0outer", config.inner_folds, seed)``, as ``portfolio.out_of_fold``.
    """
    import torch

    from mer_ray.deploy.fitting import fit_all
    from mer_ray.evaluation.folds import inner_folds
    from mer_ray.methods.linear import describe, fit_linear
    from mer_ray.methods.portfolio import fit_combination, member_seed
    from mer_ray.training.classifiers import decision_scores

    check_exportable(config)
    start = time.monotonic()
    labels = data.labels
    if np.any(labels < 0):
        raise ValueError("every clip needs a label to fit on all subjects; the features carry masked labels")
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    subjects = data.meta["subject"].to_numpy()
    groups = [list(f.held_out) for f in inner_folds(data.subjects, "\0outer", config.inner_folds, seed)]
    n = len(data)
    oof = {name: np.full((n, 3), np.nan) for name in config.members}
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
                fitted = fit_all(member_config, data.subset(train), member, device=device, log=log)
                if name not in config.crossfit:  # out-of-fold scores only; the member is refitted on every clip
                    inner = CrossfitNetworks(Bundle(Path(), {}, fitted.config, None, list(fitted.members)),
                                             [list(range(len(fitted.members)))])
                    oof[name][held] = inner.group_probabilities(held_data, 0, device)
                    seconds[name] += time.monotonic() - started
                    continue
                part = networks.setdefault(name, CrossfitNetworks(Bundle(Path(), {}, fitted.config, None), []))
                first = len(part.bundle.members)
                part.bundle.members.extend(fitted.members)
                part.groups.append(list(range(first, len(part.bundle.members))))
                epochs.setdefault(name, []).append(int(fitted.epochs))
                history.setdefault(name, {}).update({f"g{g}_{k}": list(v) for k, v in fitted.history.items()})
                oof[name][held] = part.group_probabilities(held_data, g, device)
            else:
                x = describe(member_config, data)
                estimator = fit_linear(member_config, x[train], labels[train], subjects[train], member)
                oof[name][held] = probabilities(decision_scores(estimator, x[held]))
            seconds[name] += time.monotonic() - started
            if log is not None:
                log(f"group {g + 1}/{len(groups)}: {name} fitted in {time.monotonic() - started:.1f} s")
    if any(np.isnan(p).any() for p in oof.values()):
        raise RuntimeError("a training clip got no out-of-fold score")
    combination = fit_combination(config, [oof[name] for name in config.members], labels, subjects)
    members: dict[str, ProbeArrays | CrossfitNetworks] = dict(networks)
    # the training clips' scores by the fitted models themselves (the probe: its sklearn pipeline; the networks in
    # memory, on the CPU as a loaded bundle scores them): what the bundle read back must reproduce
    reference = {name: part.probabilities(data, "cpu") for name, part in networks.items()}
    for name in config.members:
        if name in networks:
            continue
        started = time.monotonic()
        member_config = config.member_config(name, inner=False)
        if isinstance(member_config, TrainConfig):  # a refitted network member: its networks on every clip
            fitted = fit_all(member_config, data, member_seed(seed, name, "final"), device=device, log=log)
            members[name] = CrossfitNetworks(Bundle(Path(), {}, fitted.config, None, list(fitted.members)),
                                             [list(range(len(fitted.members)))])
            epochs[name] = [int(fitted.epochs)]
            history[name] = {f"final_{k}": list(v) for k, v in fitted.history.items()}
            seconds[name] += time.monotonic() - started
            reference[name] = members[name].probabilities(data, "cpu")
            continue
        x = describe(member_config, data)
        estimator = fit_linear(member_config, x, labels, subjects, member_seed(seed, name, "final"))
        members[name] = ProbeArrays.from_pipeline(member_config, estimator)
        seconds[name] += time.monotonic() - started
        reference[name] = probabilities(decision_scores(estimator, x))
    _, scores = combined_prediction(combination, [reference[name] for name in combination.members])
    return FittedPortfolio(config, members, combination, groups, scores, time.monotonic() - start, seconds, epochs,
                           history)


# ---- saving -----------------------------------------------------------------------------------------------------


def save_portfolio(out: str | Path, fitted: FittedPortfolio, *, features: FeatureSet, seed: int,
                   source: dict[str, Any], loso: dict[str, Any] | None, notes: list[str] | None = None) -> Path:
    """Write a portfolio bundle folder (to a temporary sibling first, renamed when complete); arguments as
    :func:`mer_ray.deploy.bundle.save_bundle`'s."""
    out = Path(out).expanduser().resolve()
    preprocess = bundle_preprocess(features)
    tmp = out.with_name(f".{out.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
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
        save_bundle(tmp / folder, config=member.bundle.config, members=member.bundle.members, features=features,
                    epochs=max(epochs), seed=seed, source=sub_source, loso=None,
                    notes=[note, f"epochs per group: {epochs}"], history=fitted.history.get(name, {}))
        sub_info = json.loads((tmp / folder / BUNDLE_JSON).read_text())
        (tmp / folder / MODEL_CARD).write_text(model_card({**sub_info, "path": str(out / folder)}))
        members[name] = {"kind": "network", "crossfit": crossfit, "bundle": folder, "groups": member.groups,
                         "epochs_used": epochs}
    files = {str(p.relative_to(tmp)): file_sha256(p) for p in sorted(tmp.rglob("*")) if p.is_file()}
    info = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "kind": KIND,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "labels": list(CLASS_NAMES),
        "portfolio_config": config.to_dict(),
        "seed": int(seed),
        "preprocess": {"config": preprocess.to_dict(), "config_hash": preprocess.config_hash()},
        "classifier": {"kind": KIND, "scores": SCORE_KIND},
        "combination": fitted.combination.record(),
        "subject_groups": {f"g{g}": list(group) for g, group in enumerate(fitted.subject_groups)},
        "inner_folds": k,
        "members": members,
        "files": files,
        "features": features_record(features),
        "source": source,
        "loso": loso,
        "notes": list(notes or []),
        "seconds": {"total": fitted.seconds, **fitted.member_seconds},
        "versions": {**package_versions(), "preprocessing": (features.manifest or {}).get("versions", {})},
    }
    (tmp / BUNDLE_JSON).write_text(json.dumps(info, indent=2) + "\n")
    (tmp / MODEL_CARD).write_text(portfolio_card({**info, "path": str(out)}))
    move_into_place(tmp, out)
    return out


def portfolio_card(info: dict[str, Any]) -> str:
    """The portfolio bundle's README.md."""
    feats, loso, comb = info["features"], info.get("loso"), info["combination"]
    cfg = info["portfolio_config"]
    if loso:
        score = f"pooled LOSO UAR {loso['uar']:.4f}, UF1 {loso['uf1']:.4f}"
        score += (" (OPTIMISTIC: this configuration was picked by a search over the same LOSO folds; a nested run "
                  "gives the unbiased figure)" if loso.get("optimistic") else " (a fixed configuration: no search "
                  "chose it on these folds)")
    else:
        score = "not measured: this configuration was not evaluated by a LOSO run"
    lines = [
        "# mer-ray model bundle (portfolio)",
        "",
        f"A 3-class micro-expression classifier ({', '.join(info['labels'])}), trained on ALL {feats['clips']} clips "
        f"of {feats['subjects']} subjects ({', '.join(feats['datasets'])}): {len(cfg['members'])} members whose "
        f"probabilities are combined ({comb['combiner']}).",
        "",
        "## Model",
        "",
    ]
    for name in cfg["members"]:
        entry = info["members"][name]
        weight, temperature = comb["weights"][name], comb["temperatures"][name]
        if entry["kind"] == "linear_probe":
            c = entry["config"]
            what = (f"linear probe: masked ({', '.join(c['channels'])}) flow pooled to {c['pool']}x{c['pool']}, "
                    f"standardised, {c['classifier']}; refitted on every clip ({entry['arrays']})")
        elif entry.get("crossfit", True):
            what = (f"{len(entry['groups'])} cross-fitted networks (each trained without one of {info['inner_folds']} "
                    f"subject groups), their probabilities averaged; epochs {entry['epochs_used']} "
                    f"(the network bundle {entry['bundle']}/)")
        else:
            what = (f"{len(entry['groups'][0])} networks fitted on every clip, their scores averaged; epochs "
                    f"{entry['epochs_used']} (the network bundle {entry['bundle']}/)")
        lines.append(f"- `{name}` (weight {weight:.2f}, temperature {temperature:g}): {what}.")
    inner = comb.get("inner", {})
    if "combination" in inner:
        lines.append(f"- Weights and temperatures fitted on the out-of-fold probabilities of the training clips "
                     f"({info['inner_folds']} subject-wise groups), objective {cfg['objective']}: out-of-fold UAR "
                     f"{inner['combination']['uar']:.4f} (an in-sample choice: not an estimate).")
    lines += [
        f"- Preprocessing {info['preprocess']['config_hash']} (dlib alignment, masks, TV-L1 flow; the full "
        "configuration is in bundle.json): predict applies exactly this.",
        f"- Trained on features {feats['folder']} (content hash {str(feats['content_hash'])[:16]}), "
        f"protocol {feats['protocol']}, classes {feats['class_counts']}.",
        f"- Scores: {SCORE_KIND}.",
        "",
        "## How good it is",
        "",
        f"- {score}.",
        "- The bundle itself is fitted on every subject, so no held-out estimate of THIS model exists: the LOSO "
        "figure describes the configuration.",
    ]
    return card_ending(lines, info, only_demo(feats["datasets"]))


# ---- loading ----------------------------------------------------------------------------------------------------


def load_portfolio(root: Path, info: dict[str, Any], preprocess: PreprocessConfig,
                   device: str = "cpu") -> PortfolioBundle:
    """The portfolio bundle at ``root`` whose ``bundle.json`` (``info``) passed :func:`load_bundle`'s checks (format,
    version, preprocessing, checksums). Raises ``BundleError``."""
    try:
        config = PortfolioConfig.from_dict(info["portfolio_config"])
        record = info["combination"]
        order = tuple(record["members"])
        combination = Combination(record["combiner"], order,
                                  np.array([record["weights"][m] for m in order], np.float64),
                                  np.array([record["temperatures"][m] for m in order], np.float64),
                                  record.get("inner", {}))
        entries = {name: info["members"][name] for name in config.members}
    except (KeyError, TypeError, ValueError) as err:
        raise BundleError(f"{root}: incompatible bundle: this version cannot read its portfolio ({err})") from None
    if combination.combiner not in ("weights", "select") or set(order) != set(config.members):
        raise BundleError(f"{root}: incompatible bundle: combination {combination.combiner!r} of {list(order)}")
    members: dict[str, ProbeArrays | CrossfitNetworks] = {}
    for name, entry in entries.items():
        try:
            if entry["kind"] == "linear_probe":
                probe = LinearConfig.from_dict(entry["config"])
                with np.load(root / entry["arrays"], allow_pickle=False) as arrays:
                    members[name] = ProbeArrays.from_arrays(probe, dict(arrays))
            elif entry["kind"] == "network":
                sub = load_bundle(root / entry["bundle"], device)
                if sub.info["preprocess"]["config_hash"] != info["preprocess"]["config_hash"]:
                    raise BundleError(f"{root}: member {name!r} was made with another preprocessing than the bundle")
                groups = [[int(k) for k in group] for group in entry["groups"]]
                if sorted(k for group in groups for k in group) != list(range(len(sub.members))):
                    raise BundleError(f"{root}: member {name!r}: its groups do not cover its "
                                      f"{len(sub.members)} networks")
                members[name] = CrossfitNetworks(sub, groups)
            else:
                raise BundleError(f"{root}: member {name!r} is of kind {entry['kind']!r}, which this version cannot "
                                  "read")
        except (KeyError, TypeError, ValueError, OSError) as err:
            if isinstance(err, BundleError):
                raise
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise BundleError(f"{root}: member {name!r} cannot be read ({first})") from None
    return PortfolioBundle(root, info, config, preprocess, members, combination)


def network_member_configs(config: PortfolioConfig) -> list[TrainConfig]:
    """The network members' inner-fold configurations (what a portfolio bundle trains)."""
    return [c for c in (config.member_config(name, inner=True) for name in config.members)
            if isinstance(c, TrainConfig)]


__all__ = ["SCORE_KIND", "CrossfitNetworks", "FittedPortfolio", "PortfolioBundle", "ProbeArrays",
           "check_exportable", "fit_portfolio", "load_portfolio", "portfolio_card", "save_portfolio"]
