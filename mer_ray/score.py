"""Score any predictions by the honest rules: ``python -m mer_ray.score PRED.csv [--out DIR]``.

Pooled composite and per-dataset UAR / UF1 / accuracy (all clips concatenated, then scored: never a mean of
per-subject scores), 95% subject-bootstrap intervals, confusion PNGs and a report, as for a run. The CSV format
is in ``mer_ray/evaluation/predictions.py``: columns dataset, subject, y_true, y_pred (+ optional sample, scores).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mer_ray.evaluation.metrics import score_predictions
from mer_ray.evaluation.predictions import PredictionsError, load_predictions
from mer_ray.evaluation.report import slice_section
from mer_ray.infra.atomic import write_json, write_text
from mer_ray.infra.errors import run_cli
from mer_ray.search.run_folder import RunFolder


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m mer_ray.score", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("predictions", help="PRED.csv, or a run folder (RUN or RUN:c003)")
    p.add_argument("--out", type=Path, help="output folder (default: PRED-score/ beside the CSV)")
    p.add_argument("--boot", type=int, default=1000, help="bootstrap replicates (default 1000)")
    p.add_argument("--seed", type=int, default=0, help="seed of the bootstrap")
    return p


def main(argv: list[str] | None = None) -> int:
    """The CLI: an unreadable prediction set is one ``error:`` line and exit status 2."""
    args = build_parser().parse_args(argv)
    return run_cli(lambda: score(args), user_errors=(PredictionsError,))


def score(args: argparse.Namespace) -> int:
    """Score the predictions, print the pooled and per-dataset figures, write the report; 0."""
    predictions, label = load_predictions(args.predictions)
    source = Path(args.predictions.split(":")[0])
    out = RunFolder(args.out or source.with_name(f"{source.stem}-score"))
    out.root.mkdir(parents=True, exist_ok=True)
    scores = score_predictions(predictions)
    datasets = sorted(predictions["dataset"].unique())
    print(f"{label}: {len(predictions)} clips, {predictions['subject'].nunique()} subjects, datasets "
          f"{', '.join(datasets)}")
    print(f"  composite  UAR {scores['uar']:.4f}  UF1 {scores['uf1']:.4f}  accuracy {scores['accuracy']:.4f}")
    for d in datasets:
        print(f"  {d:10s} UAR {scores[f'uar_{d}']:.4f}  UF1 {scores[f'uf1_{d}']:.4f}  (n {scores[f'n_{d}']})")
    lines = [f"# Scores of `{label}`", "",
             "Pooled over every clip (predictions concatenated, then scored once), per-dataset slices of the same "
             "predictions; intervals resample whole subjects.", ""]
    lines += slice_section(out, predictions, "score", n_boot=args.boot, seed=args.seed)
    write_text(out.report, "\n".join(lines) + "\n")
    write_json(out.file("scores.json"), {"source": str(args.predictions), **scores})
    predictions.to_csv(out.file("predictions.csv"), index=False,
                       columns=[c for c in ("dataset", "subject", "sample", "y_true", "y_pred") if c in predictions])
    print(f"report: {out.report}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
