"""LOSO evaluation and hyperparameter search on Ray Tune: ``python -m mer_ray.loso --search vit``.

Without ``--features`` or ``--dataset`` it generates and preprocesses the built-in demo dataset first.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from datetime import datetime
from pathlib import Path

from mer_ray.run_folder import RunFolder
from mer_ray.spec import RunSpec
from search_spaces import get_space, list_spaces

PROBE_SPACE = "probe"  # the reference every LOSO report shows


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
    p.add_argument("--reference", metavar="LABEL",
                   help="leaderboard: compare every configuration with this one (paired intervals); default: the "
                        "space's REFERENCE (peers: the paper's model)")
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

    resumed = _resumed_spec(args) if args.resume else None
    init_ray(args.address)
    try:
        features_dir = Path(resumed.features) if resumed else _features_dir(args)
    except (ValueError, RuntimeError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return _run(args, space, features_dir, resumed)


def _resumed_spec(args: argparse.Namespace) -> RunSpec:
    folder = RunFolder(args.resume)
    if not folder.run_json.is_file():
        raise SystemExit(f"error: --resume {args.resume}: {folder.run_json} not found (not a run folder)")
    spec = RunSpec.from_json(folder.run_json)
    if spec.space != args.search:
        raise SystemExit(f"error: --resume {args.resume} is a '{spec.space}' run; got --search {args.search}")
    return spec.with_resources(args.cpus_per_trial, args.gpus_per_trial)


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


def _run(args: argparse.Namespace, space, features_dir: Path, resumed: RunSpec | None) -> int:
    from mer_ray.data import FeaturesError, load_features
    from mer_ray.search import check_space_inputs
    from mer_ray.tune import trial_slots

    try:
        features = load_features(features_dir, datasets=resumed.subset if resumed else args.subset)
        check_space_inputs(space, features)  # before the probe or any trial
    except FeaturesError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if resumed:
        spec, folder = resumed, RunFolder(args.resume)
    else:
        spec = RunSpec.from_args(args, space, features)
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        folder = RunFolder(args.out.expanduser() / f"{stamp}-{args.search}{'-nested' if spec.nested else ''}")
        folder.root.mkdir(parents=True, exist_ok=False)
    spec.to_json(folder.run_json)
    slots = trial_slots(spec.cpus_per_trial, spec.gpus_per_trial)
    print(f"run folder: {folder.root}")
    print(f"search '{spec.space}': {space.DESCRIPTION}")
    if spec.demo_space:
        print("demo data: using the space's CPU-sized demo variant "
              f"({', '.join(f'{k}={v}' for k, v in space.DEMO_FIXED.items())})")
    if spec.nested:
        print(f"nested: {len(features.subjects)} outer folds x ({spec.trials} configurations x {spec.inner_folds} "
              f"inner folds + 1 final fit) ({len(features)} clips); {slots} trials at a time", flush=True)
        return _nested(args, folder, spec, space, features)
    print(f"{spec.trials} configurations x {len(features.subjects)} LOSO folds ({len(features)} clips, datasets "
          f"{', '.join(features.datasets)}); {slots} trials at a time", flush=True)
    return _loso(args, folder, spec, space, features, slots)


def _loso(args, folder: RunFolder, spec: RunSpec, space, features, slots: int) -> int:
    from mer_ray.report import compare_with_probe, format_table, leaderboard, score_table, write_report
    from mer_ray.search import LosoSearch
    from mer_ray.tune import run_tune

    start = time.monotonic()
    probe_board, probe = _run_probe(args, folder, spec, features)
    search = LosoSearch(folder, space, features, n_trials=spec.trials, seed=spec.seed, objective=spec.objective,
                        overrides=spec.overrides, use_demo_space=spec.demo_space,
                        max_open_configs=max(1, math.ceil(slots / len(features.subjects))) + 1)
    run_tune(search, cpus_per_trial=spec.cpus_per_trial, gpus_per_trial=spec.gpus_per_trial,
             max_failures=args.max_failures)
    board = search.leaderboard()
    board.to_csv(folder.leaderboard_csv, index=False)
    predictions = search.all_predictions()
    predictions.to_parquet(folder.predictions, index=False)
    report = write_report(folder, board, predictions, spec, probe_board=probe_board, probe=probe)
    table = score_table(board)
    print()
    print(format_table(table) if not table.empty else "no configuration completed all its folds")
    if spec.reference and not table.empty:
        table3 = leaderboard(board, predictions, spec.reference, seed=spec.seed)
        print(f"\nleaderboard (paired 95% intervals against {spec.reference}):")
        print(format_table(table3))
    if not table.empty:
        best = table.iloc[0]
        note = " (optimistic: picked by the search over the same folds)" if spec.trials > 1 else ""
        print(f"\nbest configuration {best['config']}: UAR {best['UAR']:.4f}, UF1 {best['UF1']:.4f}{note}")
        print(f"  {best['description']}")
        if probe is not None:
            mine = predictions[predictions["config_id"] == best["config"]]
            print("  " + compare_with_probe(mine, probe, seed=spec.seed).sentence(f"{best['config']}"))
    print(f"report: {report}  ({time.monotonic() - start:.0f} s)")
    return 0 if not table.empty else 1


def _nested(args, folder: RunFolder, spec: RunSpec, space, features) -> int:
    from mer_ray.nested import NestedLosoSearch
    from mer_ray.report import write_nested_report
    from mer_ray.tune import run_tune

    start = time.monotonic()
    _, probe = _run_probe(args, folder, spec, features)
    search = NestedLosoSearch(folder, space, features, n_trials=spec.trials, inner_k=spec.inner_folds,
                              seed=spec.seed, objective=spec.objective, overrides=spec.overrides,
                              use_demo_space=spec.demo_space)
    run_tune(search, cpus_per_trial=spec.cpus_per_trial, gpus_per_trial=spec.gpus_per_trial,
             max_failures=args.max_failures)
    summary = search.summary()
    predictions = search.outer_predictions()
    predictions.to_parquet(folder.predictions, index=False)
    report = write_nested_report(folder, search, spec, probe=probe)
    if not summary["complete"]:
        print("nested run incomplete: some outer folds have no prediction (see report)")
        return 1
    scores = summary["scores"]
    slices = " | ".join(f"{d}: UAR {scores[f'uar_{d}']:.4f} UF1 {scores[f'uf1_{d}']:.4f}" for d in features.datasets)
    print("\nnested LOSO (unbiased: every outer fold chose its configuration on its training subjects only):")
    print(f"  composite UAR {scores['uar']:.4f}, UF1 {scores['uf1']:.4f}, accuracy {scores['accuracy']:.4f}")
    print(f"  {slices}")
    if probe is not None:
        from mer_ray.report import compare_with_probe

        print("  " + compare_with_probe(predictions, probe, seed=spec.seed).sentence("the nested procedure"))
    print(f"report: {report}  ({time.monotonic() - start:.0f} s)")
    return 0


def _run_probe(args, folder: RunFolder, spec: RunSpec, features):
    """The linear probe on the same LOSO folds (``RUN/reference/probe``): ``(leaderboard, predictions)``.

    Every report shows it beside the searched models; skipped when the run is the probe itself.
    """
    if spec.space == PROBE_SPACE:
        return None, None
    from mer_ray.search import LosoSearch
    from mer_ray.tune import run_tune

    print("linear probe (reference) on the same LOSO folds...", flush=True)
    probe = LosoSearch(folder.reference(PROBE_SPACE), get_space(PROBE_SPACE), features, n_trials=1, seed=spec.seed,
                       objective=spec.objective, log=lambda _: None)
    run_tune(probe, cpus_per_trial=spec.cpus_per_trial, gpus_per_trial=0.0, max_failures=args.max_failures)
    board, predictions = probe.leaderboard(), probe.all_predictions()
    if predictions.empty or "uar" not in board:
        print("linear probe: no complete result (see RUN/reference/probe)", flush=True)
        return None, None
    print(f"linear probe: UAR {board.iloc[0]['uar']:.4f}, UF1 {board.iloc[0]['uf1']:.4f}", flush=True)
    return board, predictions


if __name__ == "__main__":
    sys.exit(main())
