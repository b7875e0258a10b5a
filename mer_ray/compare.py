"""Paired comparison of two prediction sets on the same clips: ``python -m mer_ray.compare A B``.

A and B are run folders (``RUN``: its best configuration; ``RUN:c003``: that one) or predictions CSVs. Both must
cover exactly the same clips; the difference A - B of each pooled metric comes with a paired subject-bootstrap
interval (the same subjects are drawn for both), composite and per dataset.
"""

from __future__ import annotations

import argparse
import sys

from mer_ray.metrics import paired_bootstrap
from mer_ray.predictions import PredictionsError, load_predictions


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m mer_ray.compare", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("a", help="RUN, RUN:c003 or PRED.csv")
    p.add_argument("b", help="RUN, RUN:c003 or PRED.csv (the reference)")
    p.add_argument("--boot", type=int, default=2000, help="bootstrap replicates (default 2000)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    try:
        (a, label_a), (b, label_b) = load_predictions(args.a), load_predictions(args.b)
    except PredictionsError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    only_a = sorted(set(a["sample"]) - set(b["sample"]))
    only_b = sorted(set(b["sample"]) - set(a["sample"]))
    if only_a or only_b:
        print(f"error: the two prediction sets cover different clips: {len(only_a)} only in {label_a}"
              f"{' (' + ', '.join(only_a[:10]) + ('...' if len(only_a) > 10 else '') + ')' if only_a else ''}, "
              f"{len(only_b)} only in {label_b}"
              f"{' (' + ', '.join(only_b[:10]) + ('...' if len(only_b) > 10 else '') + ')' if only_b else ''}",
              file=sys.stderr)
        return 2
    print(f"{label_a} - {label_b}: {len(a)} clips, {a['subject'].nunique()} subjects; paired subject bootstrap "
          f"({args.boot} resamples)")
    print(f"{'slice':12s} {'UAR diff [95% CI]':>28s} {'UF1 diff [95% CI]':>28s}")
    slices = [("composite", a, b)] + [(d, a[a["dataset"] == d], b[b["dataset"] == d])
                                     for d in sorted(a["dataset"].unique())]
    try:
        for name, part_a, part_b in slices:
            cells = []
            for metric in ("uar", "uf1"):
                diff, low, high = paired_bootstrap(part_a, part_b, metric=metric, n_boot=args.boot, seed=args.seed)
                cells.append(f"{diff:+.4f} [{low:+.3f}, {high:+.3f}]")
            print(f"{name:12s} {cells[0]:>28s} {cells[1]:>28s}")
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
