"""Peer methods at composite scale: wall time per fold and per complete LOSO, side by side in one run.

    python benchmarks/peers.py                      # every peer of search_spaces/peers.py, 68-fold LOSO each
    python benchmarks/peers.py --methods ststnet probe
    python benchmarks/peers.py --quick              # a tiny synthetic set, 1 epoch: a smoke run, not a figure
    python benchmarks/peers.py --synthetic --epochs 40   # networks at 40 epochs, their full recipe EXTRAPOLATED

Data: the composite-scale demo of ``benchmarks/paper_scale.py`` (68 subjects, 442 clips; built and cached on
first use, the time is printed), or ``--synthetic`` random arrays of the same shapes (labelled as such).

Every method runs its published recipe (``search_spaces/peers.py`` RECIPES: fixed epochs, last epoch) through
``LosoSearch`` + Ray Tune with one trial per fold and as many trials at a time as CPUs, measured end to end
(descriptor extraction included for the hand-crafted ones). The paper's configuration is far too slow for a full
CPU LOSO; its fold time comes from ``paper_scale.py``'s method (one fold at 2 + 2 epochs, extrapolated to its
20 + 20) and is marked EXTRAPOLATED. Goals: ststnet's full 800-epoch LOSO within 5 minutes on 2 cores; every
hand-crafted baseline within 2 minutes.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import Shape, cpu_count, fmt_s, machine_line, print_table, synthetic_features  # noqa: E402

from mer_ray.infra.runtime import init_ray  # noqa: E402
from search_spaces.space import SearchSpace  # noqa: E402

GOALS = {"ststnet": 300.0}  # seconds for the complete LOSO on 2 cores
HANDCRAFTED_GOAL = 120.0
QUICK = {"epochs": 1}


def run_loso(features, params: dict, name: str, tmp: Path, seed: int) -> tuple[float, float, pd.DataFrame]:
    """(wall seconds, mean fold seconds, predictions) of one fixed configuration's complete LOSO."""
    from mer_ray.search.run_folder import RunFolder
    from mer_ray.search.scheduler import LosoSearch
    from mer_ray.search.tune import run_tune

    space = SearchSpace.of_recipe(f"peers.{name}", params)
    folder = RunFolder(tmp / name)
    search = LosoSearch(folder, space, features, n_trials=1, seed=seed, log=lambda _: None, max_open_configs=1)
    start = time.perf_counter()
    run_tune(search, cpus_per_trial=1.0)
    wall = time.perf_counter() - start
    folds = pd.read_csv(folder.trials_csv)
    return wall, float(folds["fold_seconds"].mean()), search.all_predictions()


def paper_fold_seconds(features, seed: int) -> float:
    """One fold of the paper's configuration at 2 + 2 epochs, extrapolated to 20 + 20 (paper_scale.py's way)."""
    import paper_scale

    from mer_ray.evaluation.folds import fold_seed
    from mer_ray.training.config import TrainConfig
    from search_spaces import paper

    subject = features.subjects[len(features.subjects) // 2]
    config = TrainConfig.from_dict({**paper.FIXED, "pretrain_epochs": 2, "epochs": 2})
    timing = paper_scale.time_fold(config, features, subject, fold_seed(seed, "paper", subject))
    return timing.at(paper.FIXED["pretrain_epochs"], paper.FIXED["epochs"])


def main(argv: list[str] | None = None) -> int:
    from search_spaces import peers

    p = argparse.ArgumentParser(prog="python benchmarks/peers.py", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--methods", nargs="+", default=list(peers.RECIPES), choices=list(peers.RECIPES))
    p.add_argument("--synthetic", action="store_true", help="random arrays of the composite's shapes")
    p.add_argument("--quick", action="store_true", help="tiny synthetic set and 1 epoch: a smoke run")
    p.add_argument("--epochs", type=int, help="train the networks this many epochs and extrapolate the LOSO time "
                                             "of their published epoch count linearly (marked EXTRAPOLATED)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)

    from mer_ray.evaluation.metrics import pooled_scores

    print(machine_line())
    init_ray(num_cpus=cpu_count(), progress_bars=False, fresh=True)
    if args.quick or args.synthetic:
        shape = Shape(subjects=6, clips=24, size=64) if args.quick else Shape(subjects=68, clips=442, size=224)
        features, source = synthetic_features(shape), f"synthetic arrays ({shape})"
    else:
        import paper_scale

        features, source = paper_scale.load_data(argparse.Namespace(synthetic=False, quick=False, build_demo=True))
    print(f"data: {source}: {len(features)} clips, {len(features.subjects)} subjects")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.methods:
            params = dict(peers.RECIPES[name])
            if name == "paper":
                if args.quick:
                    continue
                fold = paper_fold_seconds(features, args.seed)
                total = fold * -(-len(features.subjects) // cpu_count())
                rows.append([name, f"{fold:.1f} (EXTRAPOLATED)", f"{fmt_s(total)} (EXTRAPOLATED)", "-", "-", "-"])
                continue
            network = params.get("method", "network") == "network"
            published = params.get("epochs", 1)
            if args.quick and network:
                params.update(QUICK)
            elif args.epochs and network:
                params["epochs"] = args.epochs
            wall, fold, predictions = run_loso(features, params, name, Path(tmp), args.seed)
            s = pooled_scores(predictions["y_true"], predictions["y_pred"])
            goal = GOALS.get(name) or (None if network else HANDCRAFTED_GOAL)
            scaled = bool(args.epochs and network and not args.quick)
            full = wall * published / args.epochs if scaled else wall  # the epochs dominate a shallow net's fold
            verdict = "-" if goal is None or args.quick else (
                f"<= {fmt_s(goal)}: {'met' if full <= goal else 'MISSED'}{' (EXTRAPOLATED)' if scaled else ''}")
            measured = f"{fmt_s(wall)} at {args.epochs} epochs; {fmt_s(full)} at {published} (EXTRAPOLATED)" \
                if scaled else fmt_s(wall)
            rows.append([name, f"{fold:.1f}", measured, verdict, f"{s['uar']:.4f}", f"{s['uf1']:.4f}"])
            print(f"  {name}: {fmt_s(wall)} ({fold:.1f} s per fold)", flush=True)
    print_table(["method", "s per fold (1 CPU)", f"complete LOSO ({cpu_count()} CPUs)", "goal", "UAR", "UF1"], rows,
                title=f"peers at composite scale: {len(features)} clips, {len(features.subjects)} folds")
    return 0


if __name__ == "__main__":
    sys.exit(main())
