"""The library behind ``python -m mer_ray.fit`` (:func:`fit_command`): fit one configuration on ALL subjects of a
features folder as the bundle it makes (a network bundle, an AU linear-probe bundle or a portfolio bundle), write
the bundle, read it back and check it against the fitted model (:func:`read_back`).

What to fit: :mod:`mer_ray.deploy.fit_source`; the fits: :func:`mer_ray.deploy.network_fit.fit_all`,
:func:`mer_ray.deploy.probe_bundle.fit_probe`, :func:`mer_ray.deploy.portfolio_fit.fit_portfolio`; the summary
printed: :mod:`mer_ray.deploy.fit_summary`.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np

from mer_ray.data.features import FeatureSet
from mer_ray.deploy.bundle import BundleError
from mer_ray.deploy.fit_source import FitSource, empty_out_folder, fit_params, fit_source, load_fit_features
from mer_ray.deploy.fit_summary import describe, describe_probe, print_ending, print_start
from mer_ray.deploy.network_fit import FittedModel, check_au_config, fit_all
from mer_ray.evaluation.au_task import AuTask
from mer_ray.infra.errors import UsageError, as_usage_error
from mer_ray.training.config import TrainConfig

ROUND_TRIP_TOLERANCE = 1e-5  # the bundle read back must score the training clips as the fitted model does


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


def fit_portfolio_command(args: argparse.Namespace, out: Path, source: FitSource, features: FeatureSet,
                          params: dict[str, Any], loso: dict[str, Any] | None, notes: list[str],
                          au: AuTask | None = None) -> int:
    """:func:`fit_command` for a portfolio (method ``portfolio``): fit it on every subject
    (:func:`mer_ray.deploy.portfolio_fit.fit_portfolio`), write its bundle, read it back and check it."""
    from mer_ray.deploy.portfolio_fit import check_exportable, fit_portfolio, network_member_configs
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


def save_checked_bundle(out: Path, fitted: FittedModel, features: FeatureSet, *, seed: int, source: dict[str, Any],
                        loso: dict[str, Any] | None, notes: list[str]) -> tuple[float, str]:
    """Write the bundle, read it back and score the training clips with it: ``(gap, training figure)``
    (:func:`read_back`). Raises ``BundleError`` past :data:`ROUND_TRIP_TOLERANCE`."""
    from mer_ray.deploy.bundle_save import save_bundle

    save_bundle(out, config=fitted.config, members=fitted.members, features=features, epochs=fitted.epochs,
                seed=seed, source=source, loso=loso, notes=notes, history=fitted.history, au=fitted.au)
    return read_back(out, fitted.scores, features, "model")


def save_checked_portfolio(out: Path, fitted, features: FeatureSet, *, seed: int, source: dict[str, Any],
                           loso: dict[str, Any] | None, notes: list[str]) -> tuple[float, str]:
    """:func:`save_checked_bundle` for a :class:`~mer_ray.deploy.portfolio_fit.FittedPortfolio`: write, read
    back, score the training clips; ``(gap, training figure)``. Raises ``BundleError`` past
    :data:`ROUND_TRIP_TOLERANCE`."""
    from mer_ray.deploy.portfolio_save import save_portfolio

    save_portfolio(out, fitted, features=features, seed=seed, source=source, loso=loso, notes=notes)
    return read_back(out, fitted.scores, features, "portfolio")


def read_back(out: Path, fitted_scores: np.ndarray, features: FeatureSet, what: str) -> tuple[float, str]:
    """Load the bundle at ``out`` and score the training clips: ``(gap, training figure)``, ``gap`` the largest
    score difference from the fitted ``what`` (AU detection: a skipped AU's NaN must stay NaN), the figure the
    training accuracy (AU detection: the mean macro F1 over the AUs detected). Raises ``BundleError`` past
    :data:`ROUND_TRIP_TOLERANCE`."""
    from mer_ray.deploy.bundle_load import load_bundle

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
