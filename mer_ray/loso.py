"""LOSO evaluation and hyperparameter search on Ray Tune: ``python -m mer_ray.loso --search vit``.

Without ``--features`` or ``--dataset`` it generates and preprocesses the built-in demo dataset first.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from search_spaces import get_space, list_spaces

SMOKE_OVERRIDES = {"epochs": 1, "pretrain_epochs": 1, "input_size": 64, "batch_size": 8}
SMOKE_TRIALS = 2


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m mer_ray.loso", description=__doc__)
    p.add_argument("--search", required=True, metavar="NAME", help=f"search space: {', '.join(list_spaces())}")
    data = p.add_mutually_exclusive_group()
    data.add_argument("--features", type=Path, help="features folder written by `python -m preprocessing run`")
    data.add_argument("--dataset", action="append", metavar="NAME=DIR",
                      help="dataset root(s) to preprocess first (repeatable); default: the built-in demo")
    p.add_argument("--dataset-option", action="append", default=[], metavar="NAME.KEY=VALUE")
    p.add_argument("--protocol", help="default: megc2019 for casme2+samm+smic, else 3class")
    p.add_argument("--subset", action="append", metavar="DATASET",
                   help="evaluate only these datasets of the features (e.g. --subset casme2)")
    p.add_argument("--trials", type=int, help="configurations to evaluate (default: the space's)")
    p.add_argument("--objective", choices=("uar", "uf1"), default="uar", help="pooled metric to maximise")
    p.add_argument("--nested", action="store_true",
                   help="search inside every outer fold on its training subjects: the unbiased estimate")
    p.add_argument("--inner-folds", type=int, default=4, help="inner folds (groups of subjects) of --nested")
    p.add_argument("--address", help="Ray cluster to join ('auto' inside a cluster); default: a local one")
    p.add_argument("--out", type=Path, default=Path("runs"), help="parent folder of run folders (default: runs)")
    p.add_argument("--resume", type=Path, metavar="RUN", help="continue an interrupted run folder")
    p.add_argument("--cpus-per-trial", type=float, default=1.0)
    p.add_argument("--gpus-per-trial", type=float, default=0.0, help="e.g. 0.25: four trials share a GPU")
    p.add_argument("--max-failures", type=int, default=2, help="retries of a failed trial")
    p.add_argument("--save-pretrained", type=Path, metavar="DIR",
                   help="save each fold's flow pretraining into DIR (one file per held-out subject)")
    p.add_argument("--pretrained-from", type=Path, metavar="DIR",
                   help="initialise from a saved pretraining run instead of pretraining again")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--smoke-test", action="store_true", help="tiny data, 2 configurations, 1 epoch: a fast check")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        space = get_space(args.search)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    from preprocessing.runtime import init_ray

    run_info = _resume_info(args) if args.resume else None
    init_ray(args.address)
    try:
        features_dir = Path(run_info["features"]) if run_info else _features_dir(args)
    except (ValueError, RuntimeError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return _run(args, space, features_dir, run_info)


def _resume_info(args: argparse.Namespace) -> dict[str, Any]:
    path = args.resume.expanduser().resolve() / "run.json"
    if not path.is_file():
        raise SystemExit(f"error: --resume {args.resume}: {path} not found (not a run folder)")
    info = json.loads(path.read_text())
    if info["space"] != args.search:
        raise SystemExit(f"error: --resume {args.resume} is a '{info['space']}' run; got --search {args.search}")
    return info


def _features_dir(args: argparse.Namespace) -> Path:
    """``--features`` as given, else preprocess ``--dataset`` (or the demo) into the feature cache."""
    from preprocessing.annotations.datasets import parse_dataset_options
    from preprocessing.annotations.sample import DatasetError
    from preprocessing.features.pipeline import PipelineError
    from preprocessing.features.prepare import build_features, select_samples

    if args.features:
        return args.features.expanduser().resolve()
    if not args.dataset:
        print("no --features or --dataset given: using the built-in demo dataset (real faces, synthetic "
              "micro-motions, CASME II layout); generated and preprocessed on first use", flush=True)
    try:
        selection = select_samples(args.dataset, parse_dataset_options(args.dataset_option), args.protocol,
                                   smoke_test=args.smoke_test)
        summary = build_features(selection, None, smoke_test=args.smoke_test)
    except (DatasetError, PipelineError) as err:
        raise ValueError(str(err)) from err
    print(f"features: {summary.out} ({summary.processed} clips, {summary.rejected} rejected; "
          f"{summary.seconds:.0f} s)", flush=True)
    return summary.out


def _run(args: argparse.Namespace, space, features_dir: Path, run_info: dict[str, Any] | None) -> int:
    import ray

    from mer_ray.data import FeaturesError, load_features

    subset = run_info["subset"] if run_info else args.subset
    try:
        features = load_features(features_dir, datasets=subset)
    except FeaturesError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    is_demo = list(features.manifest.get("datasets", {})) == ["demo"]
    smoke = run_info["smoke_test"] if run_info else args.smoke_test
    nested = run_info.get("nested", False) if run_info else args.nested
    if run_info:
        n_trials, seed, objective = run_info["trials"], run_info["seed"], run_info["objective"]
        run_dir = args.resume.expanduser().resolve()
    else:
        n_trials = args.trials or (SMOKE_TRIALS if smoke else space.DEMO_TRIALS if is_demo else space.TRIALS)
        if getattr(space, "SAMPLER", "tpe") == "fixed":
            n_trials = 1
        seed, objective = args.seed, args.objective
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        run_dir = (args.out.expanduser() / f"{stamp}-{args.search}{'-nested' if nested else ''}").resolve()
        run_dir.mkdir(parents=True, exist_ok=False)
    overrides = dict(run_info["overrides"]) if run_info else dict(SMOKE_OVERRIDES) if smoke else {}
    if not run_info and args.save_pretrained:
        overrides["save_pretrained"] = str(args.save_pretrained.expanduser().resolve())  # absolute: Ray workers
    if not run_info and args.pretrained_from:
        overrides["pretrained_from"] = str(args.pretrained_from.expanduser().resolve())
    inner_k = run_info.get("inner_folds", args.inner_folds) if run_info else args.inner_folds
    subjects = features.subjects
    slots = _trial_slots(ray.cluster_resources(), args.cpus_per_trial, args.gpus_per_trial)
    info = {
        "space": args.search,
        "features": str(features_dir),
        "features_content_hash": features.manifest.get("content_hash"),
        "subset": subset,
        "trials": n_trials,
        "nested": nested,
        "inner_folds": inner_k,
        "seed": seed,
        "objective": objective,
        "smoke_test": smoke,
        "demo_space": is_demo,
        "overrides": overrides,
        "fixed": {**space.FIXED, **(space.DEMO_FIXED if is_demo else {})},
        "cpus_per_trial": args.cpus_per_trial,
        "gpus_per_trial": args.gpus_per_trial,
        "clips": len(features),
        "subjects": len(subjects),
        "datasets": features.datasets,
        "python": platform.python_version(),
        "argv": sys.argv,
    }
    (run_dir / "run.json").write_text(json.dumps(info, indent=2, default=str) + "\n")
    print(f"run folder: {run_dir}")
    print(f"search '{args.search}': {space.DESCRIPTION}")
    if is_demo:
        print("demo data: using the space's CPU-sized demo variant "
              f"({', '.join(f'{k}={v}' for k, v in space.DEMO_FIXED.items())})")
    common = dict(n_trials=n_trials, seed=seed, objective=objective, overrides=overrides, use_demo_space=is_demo)
    if nested:
        print(f"nested: {len(subjects)} outer folds x ({n_trials} configurations x {inner_k} inner folds + 1 final "
              f"fit) ({len(features)} clips); {slots} trials at a time", flush=True)
        return _nested(args, run_dir, space, features, features_dir, inner_k, common)
    print(f"{n_trials} configurations x {len(subjects)} LOSO folds ({len(features)} clips, datasets "
          f"{', '.join(features.datasets)}); {slots} trials at a time", flush=True)
    return _loso(args, run_dir, space, features, features_dir, slots, common)


def _loso(args, run_dir: Path, space, features, features_dir: Path, slots: int, common: dict[str, Any]) -> int:
    from mer_ray.report import format_table, score_table, write_report
    from mer_ray.search import LosoSearch
    from mer_ray.tune import run_tune

    search = LosoSearch(run_dir, space, features, **common,
                        max_open_configs=max(1, math.ceil(slots / len(features.subjects))) + 1)
    start = time.monotonic()
    run_tune(search, cpus_per_trial=args.cpus_per_trial, gpus_per_trial=args.gpus_per_trial,
             max_failures=args.max_failures)
    board = search.leaderboard()
    board.to_csv(run_dir / "leaderboard.csv", index=False)
    predictions = search.all_predictions()
    predictions.to_parquet(run_dir / "predictions.parquet", index=False)
    report = write_report(run_dir, board, predictions, space=args.search, objective=common["objective"],
                          n_trials=common["n_trials"], features=str(features_dir), seed=common["seed"])
    table = score_table(board)
    print()
    print(format_table(table) if not table.empty else "no configuration completed all its folds")
    if not table.empty:
        best = table.iloc[0]
        note = " (optimistic: picked by the search over the same folds)" if common["n_trials"] > 1 else ""
        print(f"\nbest configuration {best['config']}: UAR {best['UAR']:.4f}, UF1 {best['UF1']:.4f}{note}")
        print(f"  {best['description']}")
    print(f"report: {report}  ({time.monotonic() - start:.0f} s)")
    return 0 if not table.empty else 1


def _nested(args, run_dir: Path, space, features, features_dir: Path, inner_k: int, common: dict[str, Any]) -> int:
    from mer_ray.nested import NestedLosoSearch
    from mer_ray.report import write_nested_report
    from mer_ray.tune import run_tune

    search = NestedLosoSearch(run_dir, space, features, inner_k=inner_k, **common)
    start = time.monotonic()
    run_tune(search, cpus_per_trial=args.cpus_per_trial, gpus_per_trial=args.gpus_per_trial,
             max_failures=args.max_failures)
    summary = search.summary()
    predictions = search.outer_predictions()
    predictions.to_parquet(run_dir / "predictions.parquet", index=False)
    report = write_nested_report(run_dir, search, space=args.search, features=str(features_dir), seed=common["seed"])
    if not summary["complete"]:
        print("nested run incomplete: some outer folds have no prediction (see report)")
        return 1
    scores = summary["scores"]
    slices = " | ".join(f"{d}: UAR {scores[f'uar_{d}']:.4f} UF1 {scores[f'uf1_{d}']:.4f}" for d in features.datasets)
    print("\nnested LOSO (unbiased: every outer fold chose its configuration on its training subjects only):")
    print(f"  composite UAR {scores['uar']:.4f}, UF1 {scores['uf1']:.4f}, accuracy {scores['accuracy']:.4f}")
    print(f"  {slices}")
    print(f"report: {report}  ({time.monotonic() - start:.0f} s)")
    return 0


def _trial_slots(resources: dict[str, float], cpus_per_trial: float, gpus_per_trial: float) -> int:
    by_cpu = int(resources.get("CPU", 1) // max(cpus_per_trial, 1e-9)) if cpus_per_trial else 10**6
    by_gpu = int(resources.get("GPU", 0) // gpus_per_trial) if gpus_per_trial else 10**6
    return max(1, min(by_cpu, by_gpu))


if __name__ == "__main__":
    sys.exit(main())
