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
from mer_ray.deploy.au_bundle import AuDecision
from mer_ray.deploy.bundle import BundleError, Member, loso_figures
from mer_ray.evaluation.au_task import AuTask
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
    au: AuDecision | None = None  # AU detection: scores are (N, K) probabilities, NaN for skipped AUs


def fit_all(config: TrainConfig, data: FeatureSet, seed: int, *, device: str | None = None,
            log: Callable[[str], None] | None = None, au: AuTask | None = None) -> FittedModel:
    """Train ``config`` on every clip of ``data``, exactly as ``train_fold`` trains a fold's training subjects.

    Epochs: ``config.epochs``, or with ``epoch_selection="inner"`` the best inner-validation epoch on held-back
    subjects (whole subjects, ``config.inner_fraction`` of them). Ensemble members use the seeds ``train_fold``
    uses. A saved pretraining (``pretrained_from``) is keyed by a held-out subject, so pretraining runs here.
    ``au``: AU detection, as ``train_au_fold``: one sigmoid output per AU trained with class-balanced BCE on the
    coded clips; an AU with too few positives is skipped (``FittedModel.au``).
    """
    import torch

    from mer_ray.deploy.svc_arrays import ArraySVC
    from mer_ray.training.classifiers import make_classifier
    from mer_ray.training.ensemble import mean_scores
    from mer_ray.training.trainer import AuFit, FitContext, au_probabilities, fit_network, fold_epochs, member_seed

    start = time.monotonic()
    config = replace(config, pretrained_from="", save_pretrained="")
    labels = data.labels
    rows = np.arange(len(data))
    decision = targets = None
    if au is not None:  # the coded clips' AU presence; the emotion labels play no part
        from mer_ray.deploy.au_bundle import all_targets

        check_au_config(config, au)
        targets = all_targets(au, data)
        decision = AuDecision.of(au, targets)
    elif np.any(labels < 0):
        raise ValueError("every clip needs a label to fit on all subjects; the features carry masked labels")
    train = rows if targets is None else targets.rows
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    fit = None if targets is None else AuFit.of(targets.rows, targets.y, targets.active, len(data))
    ctx = FitContext(config, data, device, seed, log, au=fit)
    torch.manual_seed(seed)
    epochs = fold_epochs(ctx, train)
    members, member_scores = [], []
    for k in range(config.ensemble):
        member_ctx = ctx if k == 0 else FitContext(config, data, device, member_seed(seed, k), log, au=fit)
        network, builder = fit_network(member_ctx, train, epochs, held_out=None)
        svc = None
        if decision is not None:
            member_scores.append(au_probabilities(config, network, builder, rows, device))
        else:
            classifier = make_classifier(config).fit(network, builder, rows, labels, device)
            member_scores.append(classifier.predict(network, builder, rows, device)[1])
            svc = ArraySVC.from_pipeline(classifier.pipeline_) if config.classifier == "svc" else None
        members.append(Member(network.cpu().eval(), builder.mean_.copy(), builder.std_.copy(), svc))
    # an ensemble's AU probabilities are averaged (train_au_fold), its class scores too (train_fold)
    scores = mean_scores(member_scores) if decision is None else decision.decide(np.mean(member_scores, axis=0))[1]
    return FittedModel(config, members, epochs, time.monotonic() - start, scores, ctx.history, decision)


def check_au_config(config: Any, au: AuTask | None) -> None:
    """Refuse (one ``UsageError`` line) a configuration without a multi-label form under ``--task au``
    (``mer_ray.methods.check_task``: a network's SVC or hinge classifier)."""
    from mer_ray.methods import check_task

    with as_usage_error(ValueError):
        check_task(config, au)


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
    from mer_ray.deploy.au_bundle import fit_task, task_option
    from mer_ray.search.settings import parse_settings

    settings = parse_settings(args.set)
    out = empty_out_folder(args.out)
    source = fit_source(args, settings)
    task_option(args, source.spec)  # --task / --aus checked before any preprocessing
    features = load_fit_features(args, source)
    features, au, au_notes = fit_task(args, source.spec, features)
    params, loso, notes = fit_params(args, source, settings, features)
    notes += au_notes
    if loso is not None:
        loso = {**loso, "run": source.record["run"], "config_id": source.record["config_id"]}
    method = params.get("method", "network")
    if method == "portfolio":
        return fit_portfolio_command(args, out, source, features, params, loso, notes, au)
    if method == "linear_probe" and au is not None:
        return fit_probe_command(args, out, source, features, params, loso, notes, au)
    config = network_config(params)
    check_au_config(config, au)
    if config.pretrained_from or config.save_pretrained:
        notes.append("a saved pretraining is keyed by a held-out subject: the flow pretraining ran here on every "
                     "subject instead")
    print_start(features, au)
    print(f"  {describe(config)}", flush=True)
    fitted = fit_all(config, features, args.seed, device=args.device, au=au)
    gap, train_figure = save_checked_bundle(out, fitted, features, seed=args.seed, source=source.record, loso=loso,
                                            notes=notes)
    print(f"fitted in {fitted.seconds:.0f} s; {fitted.epochs} fine-tuning epochs ({config.epoch_selection})")
    print_ending(out, gap, train_figure, loso, notes, fitted.au)
    return 0


def fit_probe_command(args: argparse.Namespace, out: Path, source: FitSource, features: FeatureSet,
                      params: dict[str, Any], loso: dict[str, Any] | None, notes: list[str], au: AuTask) -> int:
    """:func:`fit_command` for a linear probe under ``--task au`` (one binary probe per AU,
    :func:`mer_ray.deploy.probe_bundle.fit_probe`): fit, write its bundle, read it back and check it."""
    from mer_ray.deploy.probe_bundle import fit_probe, save_probe
    from mer_ray.methods import parse_config

    with as_usage_error(ValueError):
        config = parse_config(params)
    print_start(features, au)
    print(f"  {describe_probe(config)}, one per AU", flush=True)
    fitted = fit_probe(config, features, au, args.seed)
    save_probe(out, fitted, features=features, seed=args.seed, source=source.record, loso=loso, notes=notes)
    gap, train_figure = read_back(out, fitted.scores, features, "probe")
    print(f"fitted in {fitted.seconds:.0f} s")
    print_ending(out, gap, train_figure, loso, notes, fitted.au)
    return 0


def print_start(features: FeatureSet, au: AuTask | None) -> None:
    """The summary's first line: what the fit trains on (and the AU targets)."""
    print(f"fitting on all {len(features)} clips of {len(features.subjects)} subjects "
          f"({', '.join(features.datasets)}) from {features.source}", flush=True)
    if au is not None:
        print(f"  AU detection: {', '.join(au.names)}; an AU with fewer than {au.min_positives} positive (or "
              "negative) clips is skipped", flush=True)


def fit_portfolio_command(args: argparse.Namespace, out: Path, source: FitSource, features: FeatureSet,
                          params: dict[str, Any], loso: dict[str, Any] | None, notes: list[str],
                          au: AuTask | None = None) -> int:
    """:func:`fit_command` for a portfolio (method ``portfolio``): fit it on every subject
    (:func:`mer_ray.deploy.portfolio_bundle.fit_portfolio`), write its bundle, read it back and check it."""
    from mer_ray.deploy.portfolio_bundle import check_exportable, fit_portfolio, network_member_configs
    from mer_ray.methods import parse_config

    with as_usage_error(ValueError):
        config = parse_config(params)
    check_exportable(config)
    check_au_config(config, au)
    networks = network_member_configs(config)
    if any(c.pretrained_from or c.save_pretrained for c in networks):
        notes.append("a saved pretraining is keyed by a held-out subject: the flow pretraining ran here on every "
                     "subject instead")
    groups = max(2, min(config.inner_folds, len(features.subjects)))  # as mer_ray.evaluation.folds.inner_folds
    print_start(features, au)
    print(f"  portfolio of {', '.join(config.members)} ({config.combiner}, {config.objective}); every member fitted "
          f"on {groups} subject-wise inner folds for the out-of-fold scores", flush=True)
    for name in config.members:
        member = config.member_config(name, inner=True)
        what = describe(member) if isinstance(member, TrainConfig) else describe_probe(member)
        print(f"  {name}: {what}" + (" (cross-fitted: one per inner fold)" if name in config.crossfit else ""),
              flush=True)
    fitted = fit_portfolio(config, features, args.seed, device=args.device, au=au)
    gap, train_figure = save_checked_portfolio(out, fitted, features, seed=args.seed, source=source.record,
                                               loso=loso, notes=notes)
    comb = fitted.combination
    print(f"fitted in {fitted.seconds:.0f} s ({', '.join(f'{k} {v:.0f} s' for k, v in fitted.member_seconds.items())})")
    weights = ", ".join(f"{m} {w:.2f} (temperature {t:g})" for m, w, t in zip(comb.members, comb.weights,
                                                                              comb.temperatures))
    inner = comb.inner.get("combination", {})
    print(f"  weights chosen on the out-of-fold scores: {weights}"
          + (f"; out-of-fold UAR {inner['uar']:.4f}" if "uar" in inner else "")
          + (f"; out-of-fold mean F1 over the AUs (macro) {inner['f1_macro']:.4f}" if "f1_macro" in inner else ""))
    print_ending(out, gap, train_figure, loso, notes, fitted.au)
    return 0


def print_ending(out: Path, gap: float, train_figure: str, loso: dict[str, Any] | None, notes: list[str],
                 au: AuDecision | None = None) -> None:
    """The summary's last lines: the AUs detected, the training figure (:func:`read_back`), round-trip gap, LOSO
    score, notes, the bundle."""
    if au is not None:
        print(f"  {au.summary()}")
    print(f"  {train_figure} (on the training clips: not an estimate of anything); bundle read back and checked "
          f"(max score difference {gap:.1e})")
    if loso is not None:
        flag = " (optimistic: picked by a search over the same folds)" if loso["optimistic"] else ""
        print(f"  LOSO of this configuration: {loso_figures(loso)}{flag}")
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
                         f"LOSO score ({loso_figures(loso)}) does not apply to this bundle")
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
                        loso: dict[str, Any] | None, notes: list[str]) -> tuple[float, str]:
    """Write the bundle, read it back and score the training clips with it: ``(gap, training figure)``
    (:func:`read_back`). Raises ``BundleError`` past :data:`ROUND_TRIP_TOLERANCE`."""
    from mer_ray.deploy.bundle import save_bundle

    save_bundle(out, config=fitted.config, members=fitted.members, features=features, epochs=fitted.epochs,
                seed=seed, source=source, loso=loso, notes=notes, history=fitted.history, au=fitted.au)
    return read_back(out, fitted.scores, features, "model")


def save_checked_portfolio(out: Path, fitted, features: FeatureSet, *, seed: int, source: dict[str, Any],
                           loso: dict[str, Any] | None, notes: list[str]) -> tuple[float, str]:
    """:func:`save_checked_bundle` for a :class:`~mer_ray.deploy.portfolio_bundle.FittedPortfolio`: write, read
    back, score the training clips; ``(gap, training figure)``. Raises ``BundleError`` past
    :data:`ROUND_TRIP_TOLERANCE`."""
    from mer_ray.deploy.portfolio_bundle import save_portfolio

    save_portfolio(out, fitted, features=features, seed=seed, source=source, loso=loso, notes=notes)
    return read_back(out, fitted.scores, features, "portfolio")


def read_back(out: Path, fitted_scores: np.ndarray, features: FeatureSet, what: str) -> tuple[float, str]:
    """Load the bundle at ``out`` and score the training clips: ``(gap, training figure)``, ``gap`` the largest
    score difference from the fitted ``what`` (AU detection: a skipped AU's NaN must stay NaN), the figure the
    training accuracy (AU detection: the mean macro F1 over the AUs detected). Raises ``BundleError`` past
    :data:`ROUND_TRIP_TOLERANCE`."""
    from mer_ray.deploy.bundle import load_bundle

    bundle = load_bundle(out)
    y_pred, scores = bundle.predict(features)
    difference = np.abs(scores.astype(np.float64) - fitted_scores)
    same_nan = np.array_equal(np.isnan(scores), np.isnan(fitted_scores))
    gap = float(np.max(difference[~np.isnan(difference)], initial=0.0)) if same_nan else float("inf")
    if gap > ROUND_TRIP_TOLERANCE:
        raise BundleError(f"{out}: the bundle read back scores the training clips up to {gap:.2e} away from the "
                          f"fitted {what} (tolerance {ROUND_TRIP_TOLERANCE}); it is not usable")
    if bundle.task != "au":
        return gap, f"training accuracy {float((y_pred == features.labels).mean()):.3f}"
    from mer_ray.evaluation.au_task import AU_COLUMN, au_matrix, pooled

    y_true = au_matrix(features.meta[AU_COLUMN].tolist(), bundle.au.aus).astype(np.int64)
    return gap, f"training mean F1 over the AUs (macro) {pooled(y_true, y_pred)['f1_macro']:.3f}"


def network_config(params: dict[str, Any]) -> TrainConfig:
    """The ``TrainConfig`` of a configuration dict; torch networks (method ``network``) make a network bundle
    (portfolios, method ``portfolio``, go through :func:`fit_portfolio_command`; under ``--task au`` a linear probe
    through :func:`fit_probe_command`)."""
    from mer_ray.methods import parse_config

    method = params.get("method", "network")
    if method != "network":
        raise UsageError(f"method {method!r} cannot be exported as a bundle (only torch networks, method 'network', "
                        "portfolios of a linear probe and cross-fitted networks, method 'portfolio', and with "
                        "--task au the linear probe, method 'linear_probe', can); pick one of those")
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
    if row is not None and spec.objective in row and pd.notna(row[spec.objective]):  # AU runs: f1_macro / f1_binary
        scores = {k: float(row[k]) for k in row.index if k.split("_")[0] in ("uar", "uf1", "accuracy", "f1")
                  and pd.notna(row[k])}
        loso = {**scores, "objective": spec.objective, "configurations_searched": spec.trials,
                "optimistic": spec.trials > 1}
    return spec, config_id, params, loso
