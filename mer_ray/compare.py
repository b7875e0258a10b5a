"""Paired comparison of two prediction sets on the same clips: ``python -m mer_ray.compare A B``.

A and B are run folders (``RUN``: its best configuration; ``RUN:c003``: that one) or predictions CSVs. Both must
cover exactly the same clips; the difference A - B of each pooled metric comes with a paired subject-bootstrap
interval (the same subjects are drawn for both), composite and per dataset.
"""

from __future__ import annotations

import argparse
import sys

from mer_ray.evaluation.metrics import paired_bootstrap
from mer_ray.evaluation.predictions import PredictionsError, load_predictions
from mer_ray.infra.errors import UsageError, as_usage_error, run_cli


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m mer_ray.compare", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("a", help="RUN, RUN:c003 or PRED.csv")
    p.add_argument("b", help="RUN, RUN:c003 or PRED.csv (the reference)")
    p.add_argument("--boot", type=int, default=2000, help="bootstrap replicates (default 2000)")
    p.add_argument("--seed", type=int, default=0)
    return p


def main(argv: list[str] | None = None) -> int:
    """The CLI: a user error (an unreadable prediction set, other clips) is one ``error:`` line and exit status 2."""
    args = build_parser().parse_args(argv)
    return run_cli(lambda: compare(args), user_errors=(PredictionsError,))


def compare(args: argparse.Namespace) -> int:
    """Print the paired differences A - B, composite and per dataset; 0."""
    (a, label_a), (b, label_b) = load_predictions(args.a), load_predictions(args.b)
    only_a = sorted(set(a["sample"]) - set(b["sample"]))
    only_b = sorted(set(b["sample"]) - set(a["sample"]))
    if only_a or only_b:
        raise UsageError(f"the two prediction sets cover different clips: {len(only_a)} only in {label_a}"
                         f"{_examples(only_a)}, {len(only_b)} only in {label_b}{_examples(only_b)}")
    print(f"{label_a} - {label_b}: {len(a)} clips, {a['subject'].nunique()} subjects; paired subject bootstrap "
          f"({args.boot} resamples)")
    print(f"{'slice':12s} {'UAR diff [95% CI]':>28s} {'UF1 diff [95% CI]':>28s}")
    slices = [("composite", a, b)] + [(d, a[a["dataset"] == d], b[b["dataset"] == d])
                                     for d in sorted(a["dataset"].unique())]
    with as_usage_error(ValueError):
        for name, part_a, part_b in slices:
            cells = []
            for metric in ("uar", "uf1"):
                diff, low, high = paired_bootstrap(part_a, part_b, metric=metric, n_boot=args.boot, seed=args.seed)
                cells.append(f"{diff:+.4f} [{low:+.3f}, {high:+.3f}]")
            print(f"{name:12s} {cells[0]:>28s} {cells[1]:>28s}")
    return 0


def _examples(samples: list[str]) -> str:
    """`` (a, b, ...)``: the first ten sample ids ('' for none)."""
    return f" ({', '.join(samples[:10])}{'...' if len(samples) > 10 else ''})" if samples else ""


if __name__ == "__main__":
    sys.exit(main())
