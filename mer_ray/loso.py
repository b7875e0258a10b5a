"""LOSO evaluation and hyperparameter search on Ray Tune: ``python -m mer_ray.loso --search vit``.

Without ``--features`` or ``--dataset`` it generates and preprocesses the built-in demo dataset first.
"""

from __future__ import annotations

import argparse
import itertools
import math
import os
import sys
import time
from datetime import datetime
from pathlib import Path

from mer_ray.run_folder import RunFolder
from mer_ray.settings import fixed_space, parse_settings
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
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="run ONE configuration: the space's fixed settings plus this value (repeatable; JSON values)")
    p.add_argument("--smoke-test", action="store_true", help="tiny data, 2 configurations, 1 epoch: a fast check")
    p.add_argument("--verbose", action="store_true",
                   help="show Ray's, Ray Data's and Optuna's log lines here (default: in RUN/logs/)")
    return p


def main(argv: list[str] | None = None) -> int:
    """The CLI. SIGINT / SIGTERM stop it cleanly: finished folds are kept and one line gives the ``--resume``
    command; the exit status is 130 / 143."""
    from preprocessing.interrupts import Interrupted, catch_signals, ignore_further

    _ACTIVE.clear()
    with catch_signals():
        try:
            return _main(argv)
        except Interrupted as stop:
            ignore_further()
            return _stopped(stop)


_ACTIVE: dict = {}  # what an interrupt message needs: the parsed arguments and the run folder once it exists


def _stopped(stop) -> int:
    """After SIGINT / SIGTERM: shut Ray down quietly, say how to continue in one line, return 128 + signal."""
    from preprocessing.runtime import shutdown_ray_after_interrupt

    shutdown_ray_after_interrupt()
    folder, args = _ACTIVE.get("folder"), _ACTIVE.get("args")
    if folder is not None and args is not None and folder.run_json.is_file():
        print(f"interrupted ({stop.name}): {folder.count_folds()} finished folds kept in {folder.root}; continue "
              f"with: {resume_command(args, folder)}", file=sys.stderr, flush=True)
    else:
        print(f"interrupted ({stop.name}) before a run folder was made: nothing to resume (preprocessed shards are "
              "kept); run the same command again", file=sys.stderr, flush=True)
    return stop.exit_code


def resume_command(args: argparse.Namespace, folder: RunFolder) -> str:
    """The exact command that continues ``folder`` (the resources given to this run included)."""
    parts = ["python -m mer_ray.loso", f"--search {args.search}", f"--resume {folder.root}"]
    if args.address:
        parts.append(f"--address {args.address}")
    if args.cpus_per_trial != 1.0:
        parts.append(f"--cpus-per-trial {args.cpus_per_trial:g}")
    if args.gpus_per_trial:
        parts.append(f"--gpus-per-trial {args.gpus_per_trial:g}")
    if args.max_failures != 2:
        parts.append(f"--max-failures {args.max_failures}")
    return " ".join(parts)


def _main(argv: list[str] | None) -> int:
    args = build_parser().parse_args(argv)
    _ACTIVE["args"] = args
    from preprocessing.console import quiet
    from preprocessing.runtime import cache_root

    console = quiet(cache_root() / "logs" / f"loso-{os.getpid()}.log", verbose=args.verbose)  # RUN/logs/ later
    try:
        space = get_space(args.search)
        settings = parse_settings(args.set)
        resumed = _resumed_spec(args) if args.resume else None
        settings = resumed.settings if resumed else settings  # a resumed run keeps its own --set values
        space = fixed_space(space, settings) if settings else space
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    from preprocessing.runtime import init_ray

    init_ray(args.address, log_to_driver=console is None, progress_bars=console is None)
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

    try:
        features = load_features(features_dir, datasets=resumed.subset if resumed else args.subset)
        check_space_inputs(space, features)  # before the probe or any trial
    except FeaturesError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if resumed:
        changed = _features_changed(resumed, features)
        if changed:
            print(f"error: --resume {args.resume}: {changed}", file=sys.stderr)
            return 2
        spec, folder = resumed, RunFolder(args.resume)
    else:
        spec = RunSpec.from_args(args, space, features)
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        folder = new_run_folder(args.out.expanduser(), f"{stamp}-{args.search}{'-nested' if spec.nested else ''}")
    from preprocessing.locks import FolderBusy, exclusive

    try:
        with exclusive(folder.root / RUN_LOCK, f"running {folder.root}", wait=False):
            _ACTIVE["folder"] = folder
            return _run_locked(args, space, features, spec, folder)
    except FolderBusy as err:
        print(f"error: {err} (a run folder takes one process; --resume it once that one has stopped)",
              file=sys.stderr)
        return 2


RUN_LOCK = ".lock"  # inside the run folder: held by the one process running it (or resuming it)


def new_run_folder(parent: Path, name: str) -> RunFolder:
    """A new, empty run folder ``parent/name``; when a run started in the same second took that name, the next
    free ``name-2``, ``name-3``, ... (``mkdir`` is atomic: two processes never get the same folder)."""
    parent.mkdir(parents=True, exist_ok=True)
    for n in itertools.count(1):
        root = parent / (name if n == 1 else f"{name}-{n}")
        try:
            root.mkdir()
        except FileExistsError:
            continue
        return RunFolder(root)
    raise AssertionError("unreachable")


def _features_changed(spec: RunSpec, features) -> str | None:
    """Why ``--resume`` must refuse: the features folder's content hash is not the one the run started with."""
    now = features.manifest.get("content_hash")
    if spec.features_content_hash is None or now == spec.features_content_hash:
        return None
    return (f"the features folder {features.source} changed since the run started (content hash "
            f"{spec.features_content_hash[:12]} then, {str(now)[:12]} now): its finished folds were trained on other "
            "features. Start a new run without --resume, or restore that folder")


def _log_to_run_folder(folder: RunFolder) -> None:
    """With the quiet console on: library output continues in ``RUN/logs/driver.log``; ``RUN/logs/ray`` links to
    this Ray session's own logs (the workers' output)."""
    from preprocessing.console import active

    console = active()
    if console is None:
        return
    logs = folder.root / "logs"
    console.attach(logs / "driver.log")
    console.route_library_logs()  # Tune and Optuna are imported by now
    try:
        import ray

        session = Path(ray._private.worker._global_node.get_session_dir_path()) / "logs"  # no public API for it
        link = logs / "ray"
        if session.is_dir() and not link.exists():
            link.symlink_to(session, target_is_directory=True)
    except (AttributeError, OSError):
        pass


def _run_locked(args, space, features, spec: RunSpec, folder: RunFolder) -> int:
    from mer_ray.tune import trial_slots

    spec.to_json(folder.run_json)
    _log_to_run_folder(folder)
    slots = trial_slots(spec.cpus_per_trial, spec.gpus_per_trial)
    print(f"run folder: {folder.root}")
    print(f"search '{spec.space}': {space.DESCRIPTION}")
    if spec.demo_space:
        changes = ", ".join(f"{k}={v}" for k, v in space.DEMO_FIXED.items()) or "its fixed settings unchanged"
        print(f"demo data: using the space's CPU-sized demo variant ({changes}; its demo search, "
              f"{space.DEMO_TRIALS if hasattr(space, 'DEMO_TRIALS') else 1} configurations)")
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
    display = _live_display(search)
    try:
        run_tune(search, cpus_per_trial=spec.cpus_per_trial, gpus_per_trial=spec.gpus_per_trial,
                 max_failures=args.max_failures)
    finally:
        if display is not None:
            display.close()
    board = search.leaderboard()
    board.to_csv(folder.leaderboard_csv, index=False)
    predictions = search.all_predictions()
    predictions.to_parquet(folder.predictions, index=False)
    report = write_report(folder, board, predictions, spec, probe_board=probe_board, probe=probe)
    table = score_table(board)
    if not table.empty:  # the best configuration's training curves (mean and spread over folds)
        from mer_ray.curves import report_section

        report.write_text(report.read_text() + report_section(folder, str(table.iloc[0]["config"])))
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


def _live_display(search):
    """In a terminal with the quiet console on: a live bar replaces the per-fold lines (None otherwise)."""
    from preprocessing.console import active, interactive

    if active() is None or not interactive():
        return None
    from mer_ray.console import FoldDisplay

    display = FoldDisplay(search.folds_total, initial=search.folder.count_folds())
    search.on_progress = display
    search.on_fold_epoch = display.fold_epoch  # the epochs of the folds running now (Tune intermediate results)
    search.log = display.write
    return display


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
    from preprocessing.interrupts import exit_process

    exit_process(main())
