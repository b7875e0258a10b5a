"""Train one configuration on ALL subjects of a features folder and export a model bundle.

    python -m mer_ray.fit --from-run runs/20260101-120000-vit --config best --out models/vit
    python -m mer_ray.fit --search recommended --features FEATURES --out models/recommended
    python -m mer_ray.fit --search paper --set input_size=64 --set modality=flow --out models/paper64

The configuration comes from a finished LOSO run (``--from-run RUN``, its ``--config`` id or the ``best`` one;
the run's features folder by default) or from a space's fixed settings (``--search SPACE``); ``--set KEY=VALUE``
changes any of its values. Epochs are the configuration's: fixed, or chosen on an inner split of the subjects
(``epoch_selection=inner``), as in LOSO. Without ``--features`` (or a run) the built-in demo is used, as by
``python -m mer_ray.loso``. The bundle is read back and checked against the fitted model before the command ends.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from mer_ray.bundle import BundleError, Member
from mer_ray.config import TrainConfig
from mer_ray.data import FeatureSet

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

    from mer_ray.classifiers import make_classifier
    from mer_ray.svc_arrays import ArraySVC
    from mer_ray.train import FitContext, fit_network, fold_epochs, member_seed

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
    members, total = [], None
    for k in range(config.ensemble):
        member_ctx = ctx if k == 0 else FitContext(config, data, device, member_seed(seed, k), log)
        network, builder = fit_network(member_ctx, rows, epochs, held_out=None)
        classifier = make_classifier(config).fit(network, builder, rows, labels, device)
        scores = classifier.predict(network, builder, rows, device)[1]
        total = scores if total is None else total + scores
        svc = ArraySVC.from_pipeline(classifier.pipeline_) if config.classifier == "svc" else None
        members.append(Member(network.cpu().eval(), builder.mean_.copy(), builder.std_.copy(), svc))
    return FittedModel(config, members, epochs, time.monotonic() - start, (total / config.ensemble).astype(np.float32),
                       ctx.history)


# ---- the command ------------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m mer_ray.fit", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--from-run", type=Path, metavar="RUN", help="a finished `python -m mer_ray.loso` run folder")
    source.add_argument("--search", metavar="SPACE", help="a search space's fixed settings (see mer_ray.loso)")
    p.add_argument("--config", default="best", metavar="ID|best",
                   help="with --from-run: the configuration id (c003) or 'best' (default: best pooled objective)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="change one configuration value (repeatable; JSON values: 64, 1e-3, true, [1,1,1])")
    data = p.add_mutually_exclusive_group()
    data.add_argument("--features", type=Path, help="features folder (default: the run's, else the built-in demo)")
    data.add_argument("--dataset", action="append", metavar="NAME=DIR", help="dataset root(s) to preprocess first")
    p.add_argument("--dataset-option", action="append", default=[], metavar="NAME.KEY=VALUE")
    p.add_argument("--protocol", help="default: megc2019 for casme2+samm+smic, else 3class")
    p.add_argument("--subset", action="append", metavar="DATASET", help="train only on these datasets")
    p.add_argument("--out", type=Path, required=True, metavar="BUNDLE", help="the bundle folder to write")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", help="cpu, cuda, ... (default: CUDA when available)")
    p.add_argument("--smoke-test", action="store_true", help="the small demo and the smoke-test limits (1 epoch)")
    return p


class UserError(Exception):
    """A problem with what the user asked for: one line on stderr, exit status 2."""


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return _main(args)
    except (UserError, BundleError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


def _main(args: argparse.Namespace) -> int:
    from mer_ray.data import FeaturesError, load_features
    from mer_ray.settings import parse_settings

    settings = parse_settings(args.set)
    out = args.out.expanduser().resolve()
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UserError(f"--out {out} exists and is not empty; choose another folder")
    if args.from_run:
        spec, config_id, params, loso = _from_run(args.from_run, args.config)
        features_dir = args.features or Path(spec.features)
        subset = args.subset or spec.subset
        source = {"kind": "run", "run": str(args.from_run.expanduser().resolve()), "config_id": config_id,
                  "space": spec.space, "settings": settings}
    else:
        from mer_ray.settings import resolve_config
        from search_spaces import get_space

        space = get_space(args.search)
        resolve_config(space, settings)  # an unknown key fails before any preprocessing
        features_dir, subset, loso, params = args.features, args.subset, None, None
        source = {"kind": "space", "space": args.search, "settings": settings}
    if features_dir is None:
        from mer_ray.loso import _features_dir
        from preprocessing.runtime import init_ray

        init_ray(None)
        try:
            features_dir = _features_dir(args)
        except (ValueError, RuntimeError) as err:
            raise UserError(str(err)) from None
    try:
        features = load_features(features_dir, datasets=subset)
    except FeaturesError as err:
        raise UserError(str(err)) from None
    is_demo = list(features.manifest.get("datasets", {})) == ["demo"]
    notes = []
    if params is None:
        from mer_ray.settings import resolve_config

        params = resolve_config(space, settings, demo=is_demo)
        if is_demo and space.DEMO_FIXED:
            notes.append("demo data: the space's CPU-sized demo variant (" +
                         ", ".join(f"{k}={v}" for k, v in space.DEMO_FIXED.items()) + ")")
    else:
        changed = {k: v for k, v in settings.items() if params.get(k) != v}
        params = {**params, **settings}
        if changed and loso is not None:
            notes.append(f"--set changed {changed} from the run's configuration {source['config_id']}: its LOSO "
                         f"score (UAR {loso['uar']:.4f}) does not apply to this bundle")
            loso = None
        if loso is not None and args.features and Path(args.features).resolve() != Path(spec.features).resolve():
            notes.append(f"fitted on {Path(args.features).resolve()}, while the LOSO score was measured on "
                         f"{spec.features}")
    if args.smoke_test:
        from mer_ray.methods import applicable
        from mer_ray.spec import SMOKE_OVERRIDES

        params.update(applicable(params, SMOKE_OVERRIDES))
        notes.append(f"--smoke-test limits: {SMOKE_OVERRIDES}")
    config = _network_config(params)
    if config.pretrained_from or config.save_pretrained:
        notes.append("a saved pretraining is keyed by a held-out subject: the flow pretraining ran here on every "
                     "subject instead")
    print(f"fitting on all {len(features)} clips of {len(features.subjects)} subjects "
          f"({', '.join(features.datasets)}) from {features.source}", flush=True)
    print(f"  {_describe(config)}", flush=True)
    fitted = fit_all(config, features, args.seed, device=args.device)
    from mer_ray.bundle import load_bundle, save_bundle

    if loso is not None:
        loso = {**loso, "run": source["run"], "config_id": source["config_id"]}
    save_bundle(out, config=fitted.config, members=fitted.members, features=features, epochs=fitted.epochs,
                seed=args.seed, source=source, loso=loso, notes=notes, history=fitted.history)
    bundle = load_bundle(out)
    y_pred, scores = bundle.predict(features)
    gap = float(np.abs(scores - fitted.scores).max())
    if gap > ROUND_TRIP_TOLERANCE:
        raise BundleError(f"{out}: the bundle read back scores the training clips up to {gap:.2e} away from the "
                          f"fitted model (tolerance {ROUND_TRIP_TOLERANCE}); it is not usable")
    train_acc = float((y_pred == features.labels).mean())
    print(f"fitted in {fitted.seconds:.0f} s; {fitted.epochs} fine-tuning epochs ({config.epoch_selection})")
    print(f"  training accuracy {train_acc:.3f} (on the training clips: not an estimate of anything); bundle read "
          f"back and checked (max score difference {gap:.1e})")
    if loso is not None:
        flag = " (optimistic: picked by a search over the same folds)" if loso["optimistic"] else ""
        print(f"  LOSO of this configuration: UAR {loso['uar']:.4f}, UF1 {loso['uf1']:.4f}{flag}")
    for note in notes:
        print(f"  note: {note}")
    print(f"bundle: {out}")
    return 0


def _network_config(params: dict[str, Any]) -> TrainConfig:
    from mer_ray.methods import parse_config

    method = params.get("method", "network")
    if method != "network":
        raise UserError(f"method {method!r} cannot be exported as a bundle (only torch networks, method 'network', "
                        "can); pick a network configuration")
    return parse_config(params)


def _describe(config: TrainConfig) -> str:
    pretrain = f", flow pretraining {config.pretrain_epochs} epochs" if config.pretrain else ""
    return (f"{config.model} on {config.modality} at {config.input_size} px, classifier {config.classifier}, "
            f"{config.epochs} epochs ({config.epoch_selection}){pretrain}")


def _from_run(run: Path, wanted: str) -> tuple[Any, str, dict[str, Any], dict[str, Any] | None]:
    """``(spec, config_id, params, loso)`` of configuration ``wanted`` (or the best) of a finished run."""
    import pandas as pd

    from mer_ray.run_folder import RunFolder
    from mer_ray.spec import RunSpec

    folder = RunFolder(run)
    if not folder.run_json.is_file():
        raise UserError(f"--from-run {folder.root}: {folder.run_json.name} not found (not a mer_ray.loso run folder)")
    spec = RunSpec.from_json(folder.run_json)
    if spec.nested:
        raise UserError(f"--from-run {folder.root} is a nested run: each outer fold chose its own configuration; "
                        "fit one with --search SPACE --set KEY=VALUE, or from a plain LOSO run")
    board = pd.read_csv(folder.leaderboard_csv) if folder.leaderboard_csv.is_file() else pd.DataFrame()
    done = board[board["state"] == "COMPLETE"] if "state" in board else board
    if wanted == "best":
        if done.empty or spec.objective not in done:
            raise UserError(f"--from-run {folder.root}: no configuration completed all its folds (no leaderboard)")
        row = done.sort_values(spec.objective, ascending=False).iloc[0]
        config_id = str(row["config_id"])
    else:
        config_id = wanted
        rows = done[done["config_id"] == config_id] if "config_id" in done else done
        row = rows.iloc[0] if len(rows) else None
    params = folder.read_config(config_id)
    if params is None:
        known = sorted(p.stem for p in (folder.root / "configs").glob("*.json"))
        raise UserError(f"--from-run {folder.root}: no configuration {config_id!r}; it has "
                        f"{', '.join(known) or 'none'}")
    loso = None
    if row is not None and "uar" in row and pd.notna(row["uar"]):
        scores = {k: float(row[k]) for k in row.index if k.split("_")[0] in ("uar", "uf1", "accuracy")
                  and pd.notna(row[k])}
        loso = {**scores, "objective": spec.objective, "configurations_searched": spec.trials,
                "optimistic": spec.trials > 1}
    return spec, config_id, params, loso


if __name__ == "__main__":
    sys.exit(main())
