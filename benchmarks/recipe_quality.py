"""Recipe quality on the hard demo preset: the linear probe, the paper's settings and each space's best recipe.

    python benchmarks/recipe_quality.py                    # generator seeds 1 and 2 (not used for tuning), LOSO
    python benchmarks/recipe_quality.py --seeds 0          # the seed the recipes were tuned on
    python benchmarks/recipe_quality.py --methods probe recommended
    python benchmarks/recipe_quality.py --folds 7          # grouped 7-fold over subjects instead of LOSO (faster)
    python benchmarks/recipe_quality.py --quick            # a small hard demo, 1 epoch: a smoke run, not a figure

Every method runs through the project's own machinery (``LosoSearch`` + Ray Tune, one trial per fold, as many
trials at a time as CPUs) on the same folds of the same features, side by side in one run. For each it prints the
pooled UAR / UF1 with 95% subject-bootstrap intervals, the paired difference from the linear probe (the same
subjects resampled for both) and the wall time. The paper's settings run in their CPU-sized demo variant
(``search_spaces/paper.py`` demo_fixed): the literal 224-px recipe takes hours per LOSO on a CPU.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import cpu_count, grouped_folds, machine_line, print_table, run_fixed_recipe  # noqa: E402

from mer_ray.infra.runtime import init_ray  # noqa: E402

METHODS = ("probe", "paper", "recommended", "vit", "cbam", "baseline", "adaptive")
QUICK = {"epochs": 1, "pretrain_epochs": 1}
QUICK_DEMO = {"n_subjects": 4, "clips_per_subject": 4}


def recipe(name: str) -> tuple[dict, str]:
    """The fixed configuration a method runs with, and how it was chosen."""
    from search_spaces import get_space

    space = get_space(name)
    if name == "paper":
        return space.params(demo=True), "the paper's settings, CPU-sized demo variant"
    if name == "adaptive":
        return dict(space.best), "a portfolio, its weights fitted per fold on the training subjects"
    if space.best is not None:
        return dict(space.best), "the space's best fixed recipe (chosen on generator seed 0)"
    return space.params(), "the space's fixed settings"


def quick(params: dict) -> dict:
    """``params`` with 1-epoch networks (a portfolio's network members too)."""
    if params.get("method") == "portfolio":
        return {**params, "recipes": {k: quick(v) for k, v in params["recipes"].items()}}
    return {**params, **({} if params.get("method", "network") != "network" else QUICK)}


def hard_features(seed: int, quick: bool) -> Path:
    from preprocessing.features.prepare import build_features, select_samples

    options = {"demo": {"preset": "hard", "seed": seed, **(QUICK_DEMO if quick else {})}}
    summary = build_features(select_samples(["demo"], options), None)
    print(f"hard demo seed {seed}: {summary.out} ({summary.processed} clips, {summary.rejected} rejected)",
          flush=True)
    return summary.out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python benchmarks/recipe_quality.py", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", type=int, nargs="+", default=[1, 2], help="hard-demo generator seeds (default 1 2)")
    p.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    p.add_argument("--folds", type=int, default=0, help="grouped K folds over subjects instead of LOSO (0)")
    p.add_argument("--boot", type=int, default=1000, help="bootstrap replicates")
    p.add_argument("--quick", action="store_true", help="a small hard demo and 1 epoch: a smoke run")
    args = p.parse_args(argv)

    from mer_ray.data.features import load_features
    from mer_ray.evaluation.folds import loso_folds
    from mer_ray.evaluation.metrics import bootstrap_ci, paired_bootstrap, pooled_scores

    print(machine_line())
    init_ray(num_cpus=cpu_count(), progress_bars=False, fresh=True)
    methods = ["probe", *[m for m in args.methods if m != "probe"]]  # the probe is every row's reference
    summary: dict[str, list[tuple[float, float]]] = {m: [] for m in methods}
    for seed in args.seeds:
        features = load_features(hard_features(seed, args.quick))
        folds = grouped_folds(features.subjects, args.folds) if args.folds else loso_folds(features.subjects)
        protocol = f"grouped {args.folds}-fold" if args.folds else f"LOSO ({len(folds)} folds)"
        rows, probe = [], None
        with tempfile.TemporaryDirectory() as tmp:
            for name in methods:
                params, how = recipe(name)
                if args.quick:
                    params = quick(params)
                predictions, seconds = run_fixed_recipe(features, params, folds, seed, Path(tmp), name)
                s = pooled_scores(predictions["y_true"], predictions["y_pred"])
                uar = bootstrap_ci(predictions, metric="uar", n_boot=args.boot, seed=seed)
                uf1 = bootstrap_ci(predictions, metric="uf1", n_boot=args.boot, seed=seed)
                if probe is None:
                    probe, versus, diff = predictions, "(reference)", 0.0
                else:
                    diff, lo, hi = paired_bootstrap(predictions, probe, n_boot=args.boot, seed=seed)
                    versus = f"{diff:+.4f} [{lo:+.3f}, {hi:+.3f}]"
                summary[name].append((s["uar"], diff))
                rows.append([name, f"{s['uar']:.4f} [{uar[0]:.3f}, {uar[1]:.3f}]",
                             f"{s['uf1']:.4f} [{uf1[0]:.3f}, {uf1[1]:.3f}]", versus, f"{seconds:.0f}", how])
                print(f"  seed {seed} {name}: UAR {s['uar']:.4f} UF1 {s['uf1']:.4f} ({seconds:.0f} s)", flush=True)
        print_table(["method", "UAR [95% CI]", "UF1 [95% CI]", "UAR - probe [paired 95% CI]", "wall s", "recipe"],
                    rows, title=f"hard demo, generator seed {seed}: {len(features)} clips, "
                                f"{len(features.subjects)} subjects, {protocol}, {cpu_count()} CPUs")
    if len(args.seeds) > 1:
        rows = [[name, f"{sum(u for u, _ in v) / len(v):.4f}", f"{sum(d for _, d in v) / len(v):+.4f}",
                 " ".join(f"{d:+.3f}" for _, d in v)] for name, v in summary.items()]
        print_table(["method", "mean UAR", "mean UAR - probe", "per seed"], rows,
                    title=f"over generator seeds {' '.join(map(str, args.seeds))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
