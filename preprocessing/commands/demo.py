"""Generate the built-in demo dataset (real face photos, synthetic micro-expressions, CASME II layout)."""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, help="output folder (default: the cache, $MER_RAY_CACHE/demo/...)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0); same seed, same bytes")
    parser.add_argument("--small", action="store_true", help="the tiny demo (3 subjects x 3 clips) used by tests")
    parser.add_argument("--preset", choices=("easy", "hard", "realistic"), default="easy",
                        help="easy (default, the quick smoke dataset), hard (networks rewarded) or realistic (being "
                             "calibrated against real-data orderings: docs/realism.md)")
    parser.add_argument("--force", action="store_true", help="generate again even if a matching demo exists")
    parser.add_argument("--layouts", metavar="LIST",
                        help="write the demo's subjects split over these datasets' layouts, e.g. casme2,samm,casme3 "
                             "(datasets demo-casme2, demo-samm, demo-casme3: what --protocol lodo runs on); "
                             "default: the one-dataset demo in the CASME II layout")


def run(args: argparse.Namespace) -> int:
    from preprocessing.annotations.sample import LABELS
    from preprocessing.demo import (
        GROUND_TRUTH,
        SHEET_NAME,
        SMALL_DEMO,
        default_root,
        ensure_demo,
        generate_demo,
        is_current,
    )

    if args.layouts:
        return run_layouts(args)
    params = {"preset": args.preset, **(SMALL_DEMO if args.small else {})}
    root = (args.out.expanduser().resolve() if args.out else default_root(args.seed, **params))
    reused = not args.force and is_current(root, seed=args.seed, **params)
    start = time.perf_counter()
    if args.force:  # a DatasetError (a folder that is not a demo) is a user error (preprocessing.cli)
        generate_demo(root, seed=args.seed, **params)
    else:
        ensure_demo(root, seed=args.seed, **params)
    seconds = time.perf_counter() - start
    truth = json.loads((root / GROUND_TRUTH).read_text(encoding="utf-8"))
    classes = Counter(clip["label"] for clip in truth["clips"])
    emotions = Counter(clip["emotion"] for clip in truth["clips"])
    print(f"demo dataset: {root}")
    print(f"  {len(truth['subjects'])} subjects, {len(truth['clips'])} clips; classes "
          + ", ".join(f"{label} {classes[label]}" for label in LABELS)
          + "; emotions " + ", ".join(f"{emotion} {n}" for emotion, n in emotions.most_common()))
    print(f"  sheet {root / SHEET_NAME}; ground truth {root / GROUND_TRUTH}")
    print("  already generated: reused" if reused else f"  generated in {seconds:.1f} s")
    return 0


def run_layouts(args: argparse.Namespace) -> int:
    """``--layouts``: write (or reuse) the multi-layout demo and say which dataset each layout is."""
    from preprocessing.annotations.datasets.demo_layout import layout_size
    from preprocessing.annotations.sample import DatasetError
    from preprocessing.demo.layouts import (
        LAYOUTS_FILE,
        dataset_name,
        ensure_layouts,
        is_current,
        layouts_root,
        parse_layouts,
    )

    try:
        layouts = parse_layouts(args.layouts)
    except ValueError as err:  # a user error: preprocessing.cli prints it in one line
        raise DatasetError(f"--layouts: {err}") from None
    params = layout_size(layouts, args.small, 0, 0, args.preset)
    root = args.out.expanduser().resolve() if args.out else layouts_root(args.seed, layouts, **params)
    reused = not args.force and is_current(root, seed=args.seed, layouts=layouts, **params)
    start = time.perf_counter()
    if args.force and root.exists():
        (root / "demo.json").unlink(missing_ok=True)  # no longer current: written again
    ensure_layouts(root, seed=args.seed, layouts=layouts, **params)
    seconds = time.perf_counter() - start
    mapping = json.loads((root / LAYOUTS_FILE).read_text(encoding="utf-8"))
    print(f"multi-layout demo dataset: {root}")
    for layout in layouts:
        name = dataset_name(layout)
        clips = [c for c in mapping["clips"] if c["dataset"] == name]
        subjects = sorted({c["subject"] for c in clips})
        print(f"  {name}: {root / layout} ({len(subjects)} subjects, {len(clips)} clips; --dataset {name})")
    print("  already generated: reused" if reused else f"  generated in {seconds:.1f} s")
    return 0
