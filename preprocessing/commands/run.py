"""Align faces and compute TV-L1 flow features on Ray Data into Parquet shards (demo data without --dataset)."""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

from preprocessing.annotations.datasets import list_datasets, parse_dataset_options
from preprocessing.annotations.protocols import list_protocols
from preprocessing.annotations.sample import DatasetError


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


def run(args: argparse.Namespace) -> int:
    from preprocessing.features.pipeline import PipelineError
    from preprocessing.features.prepare import build_features, select_samples
    from preprocessing.runtime import init_ray
    from preprocessing.vision.clip import PreprocessConfig

    try:
        options = parse_dataset_options(args.dataset_option)
        selection = select_samples(args.dataset, options, args.protocol, smoke_test=args.smoke_test)
        config = PreprocessConfig.from_dict({"align": {"size": args.face_size},
                                             "sequence": {"frames": args.sequence_frames, "size": args.sequence_size}})
    except (ValueError, DatasetError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    result = selection.protocol
    print(f"{result.protocol}: {len(result.samples)} clips of {len(result.subjects())} subjects selected, "
          f"{len(result.exclusions)} excluded before preprocessing")
    init_ray(args.address)
    try:
        summary = build_features(selection, args.out, config, smoke_test=args.smoke_test,
                                 num_actors=args.num_actors)
    except PipelineError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"features: {summary.out}")
    print(f"  {summary.processed} clips processed, {summary.rejected} rejected by the pipeline, "
          f"{summary.newly_processed} (re)computed in this run, {summary.seconds:.1f} s")
    if summary.rejected:
        import pyarrow.parquet as pq

        rejects = pq.read_table(summary.out / "rejects.parquet").to_pylist()
        stages = Counter(r["stage"] for r in rejects)
        print("  rejects by stage: " + ", ".join(f"{stage} {n}" for stage, n in stages.most_common()))
        print(f"  see {summary.out / 'rejects.parquet'}")
    return 0
