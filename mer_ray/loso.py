"""LOSO evaluation and hyperparameter search on Ray Tune: ``python -m mer_ray.loso --search vit``.

Without ``--features`` or ``--dataset`` it generates and preprocesses the built-in demo dataset first.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from search_spaces import list_spaces

EVALUATION_PROTOCOLS = ("loso", "lodo")  # mer_ray.evaluation.folds.EVALUATION_PROTOCOLS (not imported: numpy-free)


class ProtocolAction(argparse.Action):
    """``--protocol``: an evaluation protocol (``loso`` / ``lodo``) goes to ``eval_protocol``, anything else is the
    labelling protocol of ``--dataset`` preprocessing (``protocol``, checked when the datasets are scanned)."""

    def __call__(self, parser, namespace, values, option_string=None):
        dest = "eval_protocol" if values in EVALUATION_PROTOCOLS else self.dest
        previous = getattr(namespace, dest, None)
        if previous is not None and previous != values:
            parser.error(f"--protocol given twice for the same purpose: {previous} and {values}")
        setattr(namespace, dest, values)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m mer_ray.loso", description=__doc__)
    p.set_defaults(eval_protocol=None)
    p.add_argument("--search", required=True, metavar="NAME", help=f"search space: {', '.join(list_spaces())}")
    data = p.add_mutually_exclusive_group()
    data.add_argument("--features", type=Path, help="features folder written by `python -m preprocessing run`")
    data.add_argument("--dataset", action="append", metavar="NAME=DIR",
                      help="dataset root(s) to preprocess first (repeatable); default: the built-in demo")
    p.add_argument("--dataset-option", action="append", default=[], metavar="NAME.KEY=VALUE")
    p.add_argument("--protocol", action=ProtocolAction, metavar="NAME",
                   help="evaluation: loso (leave one subject out, the default) or lodo (leave one dataset out: one "
                        "fold per dataset); labels of --dataset preprocessing: megc2019 (default for "
                        "casme2+samm+smic) or 3class. Repeat it to give one of each")
    p.add_argument("--test-dataset", metavar="NAME",
                   help="train on the other datasets of the features, test on this one (one leave-one-dataset-out "
                        "fold; implies --protocol lodo)")
    p.add_argument("--subset", action="append", metavar="DATASET",
                   help="evaluate only these datasets of the features (e.g. --subset casme2)")
    p.add_argument("--trials", type=int, help="configurations to evaluate (default: the space's)")
    p.add_argument("--repeats", type=int, default=1, metavar="N",
                   help="train a fixed configuration N times with other seeds; the report gives mean +- std "
                        "(default 1)")
    p.add_argument("--objective", choices=("uar", "uf1", "f1_macro", "f1_binary"),
                   help="pooled metric to maximise: uar (default) or uf1; --task au: f1_macro (default) or f1_binary "
                        "(the mean over the AUs)")
    p.add_argument("--task", choices=("emotion", "au"),
                   help="emotion: the three classes (default); au: AU detection, multi-label, from the sheets' AU "
                        "codes, scored by per-AU F1")
    p.add_argument("--aus", metavar="LIST",
                   help="--task au: the target AUs, e.g. 1,2,4,12 (default: the 12 most frequent in the features)")
    p.add_argument("--au-min-positives", type=int, metavar="K",
                   help="--task au: an AU with fewer than K positive training clips in a fold is skipped there "
                        "(default 3)")
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
    """The CLI; the work is :class:`mer_ray.search.driver.LosoRun`. A user error is one ``error:`` line and exit
    status 2. SIGINT / SIGTERM stop it cleanly: finished folds are kept and one line gives the ``--resume``
    command; the exit status is 130 / 143."""
    args = build_parser().parse_args(argv)
    from mer_ray.data.features import FeaturesError
    from mer_ray.infra.errors import run_cli
    from mer_ray.search.driver import LosoRun

    run = LosoRun(args)
    return run_cli(run.run, user_errors=(FeaturesError,), on_interrupt=run.stopped)


if __name__ == "__main__":
    from mer_ray.infra.interrupts import exit_process

    exit_process(main())
