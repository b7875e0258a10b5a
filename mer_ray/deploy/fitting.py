"""Fitting one configuration on ALL subjects of a features folder and exporting it as a checked model bundle: the
library behind ``python -m mer_ray.fit`` (:func:`fit_command`) and :func:`fit_all` itself.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from mer_ray.data.features import FeatureSet
from mer_ray.deploy.bundle import BundleError, Member
from mer_ray.infra.errors import UsageError, as_usage_error
from mer_ray.training.config import TrainConfig

ROUND_TRIP_TOLERANCE = 1e-5  # the bundle read back must score the training clips as the fitted model does


@dataclass
class FittedModel:
    """Networks trained on every clip of a FeatureSet (one per ensemble member) and what a bundle records."""

    config: TrainConfig
    members: list[Member]
    epochs: int
    seconds: float
    scores: np.ndarray  # (N, 3) the fitted classifiers' own scores of the training clips (the round-trip check)
    history: dict[str, list[float]] = field(default_factory=dict)


def fit_all(config: TrainConfig, data: FeatureSet, seed: int, *, device: str | None = None,
            log: Callable[[str], None] | None = None) -> FittedModel:
    """Train ``config`` on every clip of ``data``, exactly as ``train_fold`` trains a fold's training subjects.

    Epochs: ``config.epochs``, or with ``epoch_selection="inner"`` the best inner-validation epoch on held-back
    subjects (whole subjects, ``config.inner_fraction`` of them). Ensemble members use the seeds ``train_fold``
    uses. A saved pretraining (``pretrained_from``) is keyed by a held-out subject, so pretraining runs here.
    """
    import torch

    from mer_ray.deploy.svc_arrays import ArraySVC
    from mer_ray.training.classifiers import make_classifier
    from mer_ray.training.ensemble import mean_scores
    from mer_ray.training.trainer import FitContext, fit_network, fold_epochs, member_seed

    start = time.monotonic()
    config = replace(config, pretrained_from="", save_pretrained="")
    labels = data.labels
    if np.any(labels < 0):
        raise ValueError("every clip needs a label to fit on all subjects; the features carry masked labels")
    rows = np.arange(len(data))
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    ctx = FitContext(config, data, device, seed, log)
    torch.manual_seed(seed)
    epochs = fold_epochs(ctx, rows)
    members, member_scores = [], []
    for k in range(config.ensemble):
        member_ctx = ctx if k == 0 else FitContext(config, data, device, member_seed(seed, k), log)
        network, builder = fit_network(member_ctx, rows, epochs, held_out=None)
        classifier = make_classifier(config).fit(network, builder, rows, labels, device)
        member_scores.append(classifier.predict(network, builder, rows, device)[1])
        svc = ArraySVC.from_pipeline(classifier.pipeline_) if config.classifier == "svc" else None
        members.append(Member(network.cpu().eval(), builder.mean_.copy(), builder.std_.copy(), svc))
    return FittedModel(config, members, epochs, time.monotonic() - start, mean_scores(member_scores), ctx.history)


# ---- the command ------------------------------------------------------------------------------------------


@dataclass
class FitSource:
    """What to fit, before the features are loaded: a finished run's configuration or a space's fixed settings.

    Attributes:
        record: the bundle's ``source`` entry (kind, run or space, configuration id, ``--set`` values).
        features_dir: the features folder (None: ``--dataset`` or the demo, preprocessed first).
        subset: datasets to train on (None: all).
        params: the run's configuration (None: the space's, resolved once the features say demo or not).
        loso: the run's LOSO scores of that configuration (None: not measured).
        spec: the run's spec (``--from-run``).
        space: the search space (``--search``).
    """

    record: dict[str, Any]
    features_dir: Path | None
    subset: list[str] | None
    params: dict[str, Any] | None = None
    loso: dict[str, Any] | None = None
    spec: Any = None
    space: Any = None


def fit_command(args: argparse.Namespace) -> int:
    """``python -m mer_ray.fit`` (``args``: its parsed command line): fit, write the bundle, read it back and check
    it, print a summary. Returns 0; user errors raise :class:`UsageError` or ``ValueError``."""
    from mer_ray.search.settings import parse_settings

    settings = parse_settings(args.set)
    out = empty_out_folder(args.out)
    source = fit_source(args, settings)
    features = load_fit_features(args, source)
    params, loso, notes = fit_params(args, source, settings, features)
    if loso is not None:
        loso = {**loso, "run": source.record["run"], "config_id": source.record["config_id"]}
    if params.get("method", "network") == "portfolio":
        return fit_portfolio_command(args, out, source, features, params, loso, notes)
    config = network_config(params)
    if config.pretrained_from or config.save_pretrained:
        notes.append("a saved pretraining is keyed by a held-out subject: the flow pretraining ran here on every "
                     "subject instead")
    print(f"fitting on all {len(features)} clips of {len(features.subjects)} subjects "
          f"({', '.join(features.datasets)}) from {features.source}", flush=True)
    print(f"  {describe(config)}", flush=True)
    fitted = fit_all(config, features, args.seed, device=args.device)
    gap, train_acc = save_checked_bundle(out, fitted, features, seed=args.seed, source=source.record, loso=loso,
                                         notes=notes)
    print(f"fitted in {fitted.seconds:.0f} s; {fitted.epochs} fine-tuning epochs ({config.epoch_selection})")
    print_ending(out, gap, train_acc, loso, notes)
    return 0


def fit_portfolio_command(args: argparse.Namespace, out: Path, source: FitSource, features: FeatureSet,
                          params: dict[str, Any], loso: dict[str, Any] | None, notes: list[str]) -> int:
    """:func:`fit_command` for a portfolio (method ``portfolio``): fit it on every subject
    (:func:`mer_ray.deploy.portfolio_bundle.fit_portfolio`), write its bundle, read it back and check it."""
    from mer_ray.deploy.portfolio_bundle import check_exportable, fit_portfolio, network_member_configs
    from mer_ray.methods import parse_config

    with as_usage_error(ValueError):
        config = parse_config(params)
    check_exportable(config)
    networks = network_member_configs(config)
    if any(c.pretrained_from or c.save_pretrained for c in networks):
        notes.append("a saved pretraining is keyed by a held-out subject: the flow pretraining ran here on every "
                     "subject instead")
    groups = max(2, min(config.inner_folds, len(features.subjects)))  # as mer_ray.evaluation.folds.inner_folds
    print(f"fitting on all {len(features)} clips of {len(features.subjects)} subjects "
          f"({', '.join(features.datasets)}) from {features.source}", flush=True)
    print(f"  portfolio of {', '.join(config.members)} ({config.combiner}, {config.objective}); every member fitted "
          f"on {groups} subject-wise inner folds for the out-of-fold scores", flush=True)
    for name in config.members:
        member = config.member_config(name, inner=True)
        what = describe(member) if isinstance(member, TrainConfig) else describe_probe(member)
        print(f"  {name}: {what}" + (" (cross-fitted: one per inner fold)" if name in config.crossfit else ""),
              flush=True)
    fitted = fit_portfolio(config, features, args.seed, device=args.device)
    gap, train_acc = save_checked_portfolio(out, fitted, features, seed=args.seed, source=source.record, loso=loso,
                                            notes=notes)
    comb = fitted.combination
    print(f"fitted in {fitted.seconds:.0f} s ({', '.join(f'{k} {v:.0f} s' for k, v in fitted.member_seconds.items())})")
    weights = ", ".join(f"{m} {w:.2f} (temperature {t:g})" for m, w, t in zip(comb.members, comb.weights,
                                                                              comb.temperatures))
    inner = comb.inner.get("combination", {})
    print(f"  weights chosen on the out-of-fold scores: {weights}"
          + (f"; out-of-fold UAR {inner['uar']:.4f}" if "uar" in inner else ""))
    print_ending(out, gap, train_acc, loso, notes)
    return 0


def print_ending(out: Path, gap: float, train_acc: float, loso: dict[str, Any] | None, notes: list[str]) -> None:
    """The summary's last lines: training accuracy, round-trip gap, LOSO score, notes, the bundle."""
    print(f"  training accuracy {train_acc:.3f} (on the training clips: not an estimate of anything); bundle read "
          f"back and checked (max score difference {gap:.1e})")
    if loso is not None:
        flag = " (optimistic: picked by a search over the same folds)" if loso["optimistic"] else ""
        print(f"  LOSO of this configuration: UAR {loso['uar']:.4f}, UF1 {loso['uf1']:.4f}{flag}")
    for note in notes:
        print(f"  note: {note}")
    print(f"bundle: {out}")


def empty_out_folder(out: Path) -> Path:
    """``--out`` made absolute; refused when it exists and is not an empty folder (a bundle is never overwritten)."""
    out = Path(out).expanduser().resolve()
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UsageError(f"--out {out} exists and is not empty; choose another folder")
    return out


def fit_source(args: argparse.Namespace, settings: dict[str, Any]) -> FitSource:
    """``--from-run RUN`` (its ``--config``) or ``--search SPACE``, checked before any preprocessing."""
    if args.from_run:
        spec, config_id, params, loso = config_from_run(args.from_run, args.config)
        record = {"kind": "run", "run": str(args.from_run.expanduser().resolve()), "config_id": config_id,
                  "space": spec.space, "settings": settings}
        return FitSource(record, args.features or Path(spec.features), args.subset or spec.subset, params, loso,
                         spec=spec)
    from mer_ray.search.settings import resolve_config
    from search_spaces import get_space

    space = get_space(args.search)
    resolve_config(space, settings)  # an unknown key fails before any preprocessing
    return FitSource({"kind": "space", "space": args.search, "settings": settings}, args.features, args.subset,
                     space=space)


def load_fit_features(args: argparse.Namespace, source: FitSource) -> FeatureSet:
    """The features to fit on: the source's folder, else ``--dataset`` (or the demo) preprocessed first on a local
    Ray."""
    from mer_ray.data.features import load_features

    features_dir = source.features_dir
    if features_dir is None:
        from mer_ray.infra.runtime import init_ray
        from preprocessing.features.prepare import resolve_features

        init_ray(None)
        with as_usage_error(ValueError, RuntimeError):
            features_dir = resolve_features(None, args.dataset, args.dataset_option, args.protocol,
                                            smoke_test=args.smoke_test)
    return load_features(features_dir, datasets=source.subset)


def fit_params(args: argparse.Namespace, source: FitSource, settings: dict[str, Any],
               features: FeatureSet) -> tuple[dict[str, Any], dict[str, Any] | None, list[str]]:
    """``(params, loso, notes)``: the configuration to fit (``--set`` and ``--smoke-test`` applied), the LOSO
    scores that still describe it (None when ``--set`` changed it) and the notes the bundle records."""
    from mer_ray.methods import with_overrides

    notes: list[str] = []
    loso = source.loso
    if source.params is None:
        from mer_ray.search.settings import resolve_config

        params = resolve_config(source.space, settings, demo=features.is_demo)
        if features.is_demo and source.space.demo_fixed:
            notes.append(f"demo data: the space's CPU-sized demo variant ({source.space.demo_changes()})")
    else:
        changed = {k: v for k, v in settings.items() if source.params.get(k) != v}
        params = with_overrides(source.params, settings, strict=True)
        if changed and loso is not None:
            notes.append(f"--set changed {changed} from the run's configuration {source.record['config_id']}: its "
                         f"LOSO score (UAR {loso['uar']:.4f}) does not apply to this bundle")
            loso = None
        run_features = source.spec.features
        if loso is not None and args.features and Path(args.features).resolve() != Path(run_features).resolve():
            notes.append(f"fitted on {Path(args.features).resolve()}, while the LOSO score was measured on "
                         f"{run_features}")
    if args.smoke_test:
        from mer_ray.search.spec import SMOKE_OVERRIDES

        params = with_overrides(params, SMOKE_OVERRIDES)
        notes.append(f"--smoke-test limits: {SMOKE_OVERRIDES}")
    return params, loso, notes


def save_checked_bundle(out: Path, fitted: FittedModel, features: FeatureSet, *, seed: int, source: dict[str, Any],
                        loso: dict[str, Any] | None, notes: list[str]) -> tuple[float, float]:
    """Write the bundle, read it back and score the training clips with it: ``(gap, training accuracy)``, ``gap``
    the largest score difference from the fitted model. Raises ``BundleError`` past
    :data:`ROUND_TRIP_TOLERANCE`."""
    from mer_ray.deploy.bundle import save_bundle

    save_bundle(out, config=fitted.config, members=fitted.members, features=features, epochs=fitted.epochs,
                seed=seed, source=source, loso=loso, notes=notes, history=fitted.history)
    return read_back(out, fitted.scores, features, "model")


def save_checked_portfolio(out: Path, fitted, features: FeatureSet, *, seed: int, source: dict[str, Any],
                           loso: dict[str, Any] | None, notes: list[str]) -> tuple[float, float]:
    """:func:`save_checked_bundle` for a :class:`~mer_ray.deploy.portfolio_bundle.FittedPortfolio`: write, read
    back, score the training clips; ``(gap, training accuracy)``. Raises ``BundleError`` past
    :data:`ROUND_TRIP_TOLERANCE`."""
    from mer_ray.deploy.portfolio_bundle import save_portfolio

    save_portfolio(out, fitted, features=features, seed=seed, source=source, loso=loso, notes=notes)
    return read_back(out, fitted.scores, features, "portfolio")


def read_back(out: Path, fitted_scores: np.ndarray, features: FeatureSet, what: str) -> tuple[float, float]:
    """Load the bundle at ``out`` and score the training clips: ``(gap, training accuracy)``, ``gap`` the largest
    score difference from the fitted ``what``. Raises ``BundleError`` past :data:`ROUND_TRIP_TOLERANCE`."""
    from mer_ray.deploy.bundle import load_bundle

    y_pred, scores = load_bundle(out).predict(features)
    gap = float(np.abs(scores - fitted_scores).max())
    if gap > ROUND_TRIP_TOLERANCE:
        raise BundleError(f"{out}: the bundle read back scores the training clips up to {gap:.2e} away from the "
                          f"fitted {what} (tolerance {ROUND_TRIP_TOLERANCE}); it is not usable")
    return gap, float((y_pred == features.labels).mean())


def network_config(params: dict[str, Any]) -> TrainConfig:
    """The ``TrainConfig`` of a configuration dict; torch networks (method ``network``) make a network bundle
    (portfolios, method ``portfolio``, go through :func:`fit_portfolio_command`)."""
    from mer_ray.methods import parse_config

    method = params.get("method", "network")
    if method != "network":
        raise UsageError(f"method {method!r} cannot be exported as a bundle (only torch networks, method 'network', "
                        "and portfolios of a linear probe and cross-fitted networks, method 'portfolio', can); pick "
                        "one of those")
    return parse_config(params)


def describe(config: TrainConfig) -> str:
    """One line: model, input, classifier, epochs."""
    pretrain = f", flow pretraining {config.pretrain_epochs} epochs" if config.pretrain else ""
    return (f"{config.model} on {config.modality} at {config.input_size} px, classifier {config.classifier}, "
            f"{config.epochs} epochs ({config.epoch_selection}){pretrain}")


def describe_probe(config: Any) -> str:
    """One line: a linear probe's descriptor and classifier."""
    c = f"C {config.c:g}" if config.c > 0 else f"C chosen on {config.inner_folds} grouped folds"
    return (f"{config.method}: masked ({', '.join(config.channels)}) flow pooled to {config.pool}x{config.pool}, "
            f"standardised, {config.classifier} ({c})")


def config_from_run(run: Path, wanted: str) -> tuple[Any, str, dict[str, Any], dict[str, Any] | None]:
    """``(spec, config_id, params, loso)`` of configuration ``wanted`` (or the best) of a finished run."""
    import pandas as pd

    from mer_ray.search.run_folder import RunFolder
    from mer_ray.search.spec import RunSpec

    folder = RunFolder(run)
    if not folder.run_json.is_file():
        raise UsageError(f"--from-run {folder.root}: {folder.run_json.name} not found (not a mer_ray.loso run folder)")
    spec = RunSpec.from_json(folder.run_json)
    if spec.nested:
        raise UsageError(f"--from-run {folder.root} is a nested run: each outer fold chose its own configuration; "
                        "fit one with --search SPACE --set KEY=VALUE, or from a plain LOSO run")
    board = pd.read_csv(folder.leaderboard_csv) if folder.leaderboard_csv.is_file() else pd.DataFrame()
    done = board[board["state"] == "COMPLETE"] if "state" in board else board
    if wanted == "best":
        if done.empty or spec.objective not in done:
            raise UsageError(f"--from-run {folder.root}: no configuration completed all its folds (no leaderboard)")
        row = done.sort_values(spec.objective, ascending=False).iloc[0]
        config_id = str(row["config_id"])
    else:
        config_id = wanted
        rows = done[done["config_id"] == config_id] if "config_id" in done else done
        row = rows.iloc[0] if len(rows) else None
    params = folder.read_config(config_id)
    if params is None:
        known = sorted(p.stem for p in (folder.root / "configs").glob("*.json"))
        raise UsageError(f"--from-run {folder.root}: no configuration {config_id!r}; it has "
                        f"{', '.join(known) or 'none'}")
    loso = None
    if row is not None and "uar" in row and pd.notna(row["uar"]):
        scores = {k: float(row[k]) for k in row.index if k.split("_")[0] in ("uar", "uf1", "accuracy")
                  and pd.notna(row[k])}
        loso = {**scores, "objective": spec.objective, "configurations_searched": spec.trials,
                "optimistic": spec.trials > 1}
    return spec, config_id, params, loso
