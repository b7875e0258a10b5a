"""Train one configuration on ALL subjects of a features folder and export a model bundle.

    python -m mer_ray.fit --from-run runs/20260101-120000-vit --config best --out models/vit
    python -m mer_ray.fit --search recommended --features FEATURES --out models/recommended
    python -m mer_ray.fit --search paper --set input_size=64 --set modality=flow --out models/paper64
    python -m mer_ray.fit --search probe --task au --aus 1,2,4,12 --features FEATURES --out models/au-probe

The configuration comes from a finished LOSO run (``--from-run RUN``, its ``--config`` id or the ``best`` one;
the run's features folder by default) or from a space's fixed settings (``--search SPACE``); ``--set KEY=VALUE``
changes any of its values. Epochs are the configuration's: fixed, or chosen on an inner split of the subjects
(``epoch_selection=inner``), as in LOSO. Without ``--features`` (or a run) the built-in demo is used, as by
``python -m mer_ray.loso``. The bundle is read back and checked against the fitted model before the command ends.

``--task au`` fits an AU detector (one probability of presence per AU, present above 0.5) on the clips with AU
codes: a network (``classifier=softmax``), the linear probe (one per AU) or the recommended portfolio; the AUs are
``--aus`` (default: the 12 most frequent), an AU with too few positives is skipped. ``--from-run`` of an AU run
takes its task and AUs from its run.json.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m mer_ray.fit", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--from-run", type=Path, metavar="RUN", help="a finished `python -m mer_ray.loso` run folder")
    source.add_argument("--search", metavar="SPACE", help="a search space's fixed settings (see mer_ray.loso)")
    p.add_argument("--config", default="best", metavar="ID|best",
                   help="with --from-run: the configuration id (c003) or 'best' (default: best pooled objective)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="change one configuration value (repeatable; JSON values: 64, 1e-3, true, [1,1,1])")
    data = p.add_mutually_exclusive_group()
    data.add_argument("--features", type=Path, help="features folder (default: the run's, else the built-in demo)")
    data.add_argument("--dataset", action="append", metavar="NAME=DIR", help="dataset root(s) to preprocess first")
    p.add_argument("--dataset-option", action="append", default=[], metavar="NAME.KEY=VALUE")
    p.add_argument("--protocol", help="default: megc2019 for casme2+samm+smic, else 3class")
    p.add_argument("--subset", action="append", metavar="DATASET", help="train only on these datasets")
    p.add_argument("--task", choices=("emotion", "au"),
                   help="emotion: the three classes (default); au: AU detection, one probability per AU (with "
                        "--from-run: the run's task)")
    p.add_argument("--aus", metavar="LIST", help="--task au: the target AUs, e.g. 1,2,4,12 (default: the 12 most "
                   "frequent in the features)")
    p.add_argument("--au-min-positives", type=int, metavar="K", help="--task au: an AU with fewer than K positive "
                   "(or negative) training clips is skipped (default 3)")
    p.add_argument("--out", type=Path, required=True, metavar="BUNDLE", help="the bundle folder to write")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", help="cpu, cuda, ... (default: CUDA when available)")
    p.add_argument("--smoke-test", action="store_true", help="the small demo and the smoke-test limits (1 epoch)")
    return p


def main(argv: list[str] | None = None) -> int:
    """The CLI; the work is :func:`mer_ray.deploy.fitting.fit_command`. A user error is one ``error:`` line and exit
    status 2."""
    args = build_parser().parse_args(argv)
    from mer_ray.deploy.fitting import fit_command
    from mer_ray.infra.errors import run_cli

    # ValueError: a bad --set value, features or bundle (FeaturesError, BundleError), clips without labels
    return run_cli(lambda: fit_command(args), user_errors=(ValueError,))


if __name__ == "__main__":
    sys.exit(main())
