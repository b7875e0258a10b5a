"""Leave-one-subject-out spotting of micro- and macro-expressions in long videos on Ray Tune:
``python -m mer_ray.spot --search baseline``.

Without ``--dataset`` it generates the long-video demo into the cache first (deterministic). One Ray Tune trial
per held-out subject; each fold chooses its settings on the other subjects only. Outputs: ``runs/<stamp>-spot-
<search>/`` (report.md with the MEGC table, intervals.csv, timelines/, folds/ for ``--resume``).
"""

from __future__ import annotations

import argparse
from pathlib import Path


def build_parser() -> argparse.ArgumentParser:
    from mer_ray.spotting.methods import list_spotters

    p = argparse.ArgumentParser(prog="python -m mer_ray.spot", description=__doc__)
    p.add_argument("--search", required=True, metavar="NAME", help=f"spotter: {', '.join(list_spotters())}")
    p.add_argument("--dataset", metavar="NAME=DIR",
                   help="long videos: casme2=DIR (CAS(ME)^2) or samm=DIR (SAMM Long Videos); default: the "
                        "long-video demo")
    p.add_argument("--seed", type=int, default=0, help="the demo's seed and the learned spotter's")
    p.add_argument("--out", type=Path, default=Path("runs"), help="parent folder of run folders (default: runs)")
    p.add_argument("--resume", type=Path, metavar="RUN", help="continue an interrupted run folder")
    p.add_argument("--address", help="Ray cluster to join ('auto' inside a cluster); default: a local one")
    p.add_argument("--num-cpus", type=int, help="CPUs of a new local Ray cluster (default: all)")
    p.add_argument("--cpus-per-trial", type=float, default=1.0)
    p.add_argument("--max-failures", type=int, default=2, help="retries of a failed trial")
    p.add_argument("--no-timelines", action="store_true", help="skip the per-video timeline PNGs")
    p.add_argument("--smoke-test", action="store_true", help="the smallest demo (3 subjects x 10 s): a fast check")
    p.add_argument("--verbose", action="store_true", help="show Ray's log lines here (default: in RUN/logs/)")
    return p


def main(argv: list[str] | None = None) -> int:
    """The CLI; the work is :class:`mer_ray.spotting.run.SpotRun`. A user error is one ``error:`` line and exit
    status 2; SIGINT / SIGTERM stop it cleanly (finished folds kept, one line gives the ``--resume`` command)."""
    args = build_parser().parse_args(argv)
    from mer_ray.infra.errors import run_cli
    from mer_ray.spotting.run import SpotRun
    from preprocessing.annotations.sample import DatasetError

    run = SpotRun(args)
    return run_cli(run.run, user_errors=(DatasetError,), on_interrupt=run.stopped)


if __name__ == "__main__":
    from mer_ray.infra.interrupts import exit_process

    exit_process(main())
