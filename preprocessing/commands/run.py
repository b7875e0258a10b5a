"""Align faces and compute TV-L1 flow features on Ray Data into Parquet shards (demo data without --dataset)."""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

from preprocessing.annotations.datasets import list_datasets, parse_dataset_options
from preprocessing.annotations.protocols import list_protocols


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", action="append", default=[], metavar="NAME=DIR",
                        help=f"a dataset root, repeatable; names: {', '.join(list_datasets())} (default: the demo)")
    parser.add_argument("--dataset-option", action="append", default=[], metavar="NAME.KEY=VALUE",
                        help="adapter option, e.g. casme2.frames_dir=Cropped")
    parser.add_argument("--protocol", choices=list_protocols(),
                        help="default: megc2019 for casme2+samm+smic, else 3class")
    parser.add_argument("--out", type=Path, help="features folder (default: a cache folder under ~/.cache/mer_ray)")
    parser.add_argument("--address", help="Ray cluster to join ('auto' inside a cluster); default: a local one")
    parser.add_argument("--num-actors", type=int,
                        help="fixed actor pool size (default: one per CPU here; autoscaling when joining a cluster)")
    parser.add_argument("--face-size", type=int, default=224, help="aligned face side in pixels (default 224)")
    parser.add_argument("--sequence-frames", type=int, default=8,
                        help="aligned frames stored per clip, sampled over onset..offset, for LBP-TOP (default 8; "
                             "0 = none)")
    parser.add_argument("--sequence-size", type=int, default=64, help="side of the stored frames (default 64)")
    parser.add_argument("--smoke-test", action="store_true", help="a few clips per subject (small demo by default)")
    parser.add_argument("--verbose", action="store_true",
                        help="show Ray's and Ray Data's log lines here (default: in OUT/logs/preprocessing.log)")


def run(args: argparse.Namespace) -> int:
    """The command; SIGINT / SIGTERM stop it cleanly (finished shards kept, one line, exit 130 / 143)."""
    from mer_ray.infra.errors import run_cli

    job = Preprocessing(args)
    return run_cli(job.run, on_interrupt=job.stopped)


class Preprocessing:
    """One ``python -m preprocessing run``: its parsed arguments and, once known, the features folder (what an
    interrupt message names)."""

    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.out: Path | None = None

    def run(self) -> int:
        """Select the clips, start Ray, run the pipeline, print the summary; 0. A bad dataset, option or
        configuration raises :class:`~mer_ray.infra.errors.UsageError` before Ray starts; a pipeline that cannot
        run raises ``PipelineError``."""
        from mer_ray.infra.console import quiet
        from mer_ray.infra.errors import as_usage_error
        from mer_ray.infra.runtime import init_ray
        from preprocessing.features.prepare import build_features, default_features_dir, select_samples
        from preprocessing.vision.clip import PreprocessConfig

        args = self.args
        with as_usage_error(ValueError):  # DatasetError among them
            options = parse_dataset_options(args.dataset_option)
            selection = select_samples(args.dataset, options, args.protocol, smoke_test=args.smoke_test)
            config = PreprocessConfig.from_dict({"align": {"size": args.face_size}, "sequence": {
                "frames": args.sequence_frames, "size": args.sequence_size}})
        result = selection.protocol
        print(f"{result.protocol}: {len(result.samples)} clips of {len(result.subjects())} subjects selected, "
              f"{len(result.exclusions)} excluded before preprocessing")
        self.out = (args.out or default_features_dir(selection, config, args.smoke_test)).expanduser().resolve()
        console = quiet(self.out / "logs" / "preprocessing.log", verbose=args.verbose)
        init_ray(args.address, log_to_driver=console is None, progress_bars=console is None)
        summary = build_features(selection, args.out, config, smoke_test=args.smoke_test, num_actors=args.num_actors)
        print_summary(summary)
        return 0

    def stopped(self, stop) -> int:
        """After SIGINT / SIGTERM: shut Ray down, say what is kept and how to continue in one line; 130 / 143."""
        from mer_ray.infra.runtime import shutdown_ray_after_interrupt

        shutdown_ray_after_interrupt()
        out = self.out
        stored = sum(_readable_rows(path) for path in (out / "shards").glob("*.parquet")) if out else 0
        where = f"{stored} clips stored in {out} are kept; " if out else ""
        print(f"interrupted ({stop.name}): {where}continue with: {command(self.args, out)} (only the missing clips "
              "are computed)", file=sys.stderr, flush=True)
        return stop.exit_code


def _readable_rows(path: Path) -> int:
    import pyarrow.parquet as pq

    try:
        return pq.read_metadata(path).num_rows
    except Exception:  # a shard torn by the interrupt: the next run redoes its clips
        return 0


def command(args: argparse.Namespace, out: Path | None = None) -> str:
    """The ``python -m preprocessing run`` command of ``args`` (options left at their defaults omitted), writing
    into ``out`` (default: ``args.out``)."""
    parts = ["python -m preprocessing run"]
    parts += [f"--dataset {spec}" for spec in args.dataset] + [f"--dataset-option {o}" for o in args.dataset_option]
    for flag, value, default in (("--protocol", args.protocol, None), ("--address", args.address, None),
                                 ("--num-actors", args.num_actors, None), ("--face-size", args.face_size, 224),
                                 ("--sequence-frames", args.sequence_frames, 8),
                                 ("--sequence-size", args.sequence_size, 64)):
        if value != default:
            parts.append(f"{flag} {value}")
    if args.smoke_test:
        parts.append("--smoke-test")
    out = out or args.out
    if out:
        parts.append(f"--out {out}")
    return " ".join(parts)


def print_summary(summary) -> None:
    """What the pipeline did: clips processed, rejected, recomputed, repaired, and the rejects by stage."""
    print(f"features: {summary.out}")
    print(f"  {summary.processed} clips processed, {summary.rejected} rejected by the pipeline, "
          f"{summary.newly_processed} (re)computed in this run, {summary.seconds:.1f} s")
    if summary.repaired:
        print(f"  repaired {len(summary.repaired)} damaged shard{'s' if len(summary.repaired) != 1 else ''} "
              f"(moved to {summary.out / 'damaged'}, their clips recomputed): {', '.join(summary.repaired)}")
    if summary.rejected:
        import pyarrow.parquet as pq

        rejects = pq.read_table(summary.out / "rejects.parquet").to_pylist()
        stages = Counter(r["stage"] for r in rejects)
        print("  rejects by stage: " + ", ".join(f"{stage} {n}" for stage, n in stages.most_common()))
        print(f"  see {summary.out / 'rejects.parquet'}")
