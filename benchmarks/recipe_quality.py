"""Recipe quality on a family of benchmark settings, each setting held out in turn (issue 24).

    python benchmarks/recipe_quality.py                         # every setting of _settings.py, seed 3, LOSO
    python benchmarks/recipe_quality.py --folds 5               # grouped 5-fold over subjects (a cheaper screen)
    python benchmarks/recipe_quality.py --settings hard templates --seeds 3 4
    python benchmarks/recipe_quality.py --methods probe ensemble recommended paper
    python benchmarks/recipe_quality.py --quick                 # tiny demos, 1 epoch: a smoke run, not a figure
    python benchmarks/recipe_quality.py --tables a.json b.json  # the tables of earlier --save runs, together

Settings (``benchmarks/_settings.py``): ``hard``, ``realistic``, ``symmetric`` (no one-sided AU combinations,
8 % label noise), ``samm`` (SAMM's layout: 15 subjects x 11 clips, long clips), ``small`` (60 clips), ``distinct``
(every class keeps to its own AUs), ``templates`` (each class one fixed AU template in noise: a linear model is
close to the best possible classifier), ``random_aus`` (classes from random AU subsets, new per seed), ``smic``
(SMIC-HS's shape, no apex in the sheet) and ``easy`` (the built-in demo). The recipes' own choices were made on
hard seed 0; the default seed 3 was used for none of them.

Every method runs through the project's own machinery (``LosoSearch`` + Ray Tune, one trial per fold, as many
trials at a time as CPUs) on the same folds of the same features. Per (setting, seed): each method's pooled UAR /
UF1 with 95% subject-bootstrap intervals, the paired difference from the linear probe (the same subjects
resampled for both) and the wall time; for a portfolio (``recommended``) also each member's pooled row and the
mean weights its folds chose.

Leave one setting out: for each setting, the method with the best mean UAR on the OTHER settings is chosen, and its
score on the held-out setting is reported against the probe's. ``recommended`` makes its data-dependent choices
inside each outer fold on the training subjects, so it is also reported as it is, on every setting.

Goals (issue 24), per held-out setting: the recommended recipe's paired interval against the probe has its lower
bound >= -0.02, and its UAR is at least the best single portfolio member's minus 0.02.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import cpu_count, fmt_s, grouped_folds, machine_line, print_table, run_fixed_recipe  # noqa: E402
from _settings import SETTINGS, setting_features  # noqa: E402

from mer_ray.infra.runtime import init_ray  # noqa: E402

METHODS = ("probe", "ensemble", "recommended", "crossfit", "paper", "vit", "cbam", "baseline")
DEFAULT_METHODS = ("probe", "ensemble", "recommended")
QUICK = {"epochs": 1, "pretrain_epochs": 1}
QUICK_DEMO = {"n_subjects": 4, "clips_per_subject": 4}
MEMBER_MARGIN = 0.02  # the goal: recommended >= best single member - 0.02
PROBE_MARGIN = -0.02  # the goal: paired interval's lower bound against the probe >= -0.02


def recipe(name: str) -> tuple[dict, str]:
    """The fixed configuration a method runs with, and how it was chosen."""
    from search_spaces import get_space, recommended

    if name == "crossfit":
        return dict(recommended.CROSSFIT), "the recommended recipe cross-fitted: its 5 inner networks are the member"
    space = get_space(name)
    if name == "paper":
        return space.params(demo=True), "the paper's settings, CPU-sized demo variant"
    if name == "recommended":
        return dict(space.best), "probe + 5 networks, weights fitted per fold on the training subjects"
    if space.best is not None:
        return dict(space.best), "the space's best fixed recipe (chosen on hard seed 0)"
    return space.params(), "the space's fixed settings"


def quick(params: dict) -> dict:
    """``params`` with 1-epoch networks (a portfolio's network members too)."""
    if params.get("method") == "portfolio":
        return {**params, "recipes": {k: quick(v) for k, v in params["recipes"].items()}}
    return {**params, **({} if params.get("method", "network") != "network" else QUICK)}


def features_of(setting: str, seed: int, small: bool) -> Path:
    if not small:
        return setting_features(setting, seed)
    from _settings import build_features

    preset, params = SETTINGS[setting]
    return build_features(preset, seed, {**params, **QUICK_DEMO})


def member_rows(predictions, details: dict) -> dict[str, tuple[float, float]]:
    """Each portfolio member's pooled (UAR, UF1) and its mean weight over the folds."""
    from mer_ray.evaluation.metrics import pooled_scores
    from mer_ray.evaluation.parts import member_predictions

    out = {}
    for name, frame in member_predictions(predictions, details).items():
        if name == "combination":
            continue
        s = pooled_scores(frame["y_true"].to_numpy(), frame["y_pred"].to_numpy(dtype=np.int64))
        weight = float(np.mean([d["portfolio"]["weights"][name] for d in details.values()]))
        out[name] = (s["uar"], s["uf1"], weight)
    return out


def run_setting(setting: str, seed: int, methods: dict[str, tuple[dict, str]], args, tmp: Path) -> dict:
    """Every method on one (setting, seed): scores, paired differences, members; printed as a table."""
    from mer_ray.data.features import load_features
    from mer_ray.evaluation.folds import loso_folds
    from mer_ray.evaluation.metrics import bootstrap_ci, paired_bootstrap, pooled_scores

    features = load_features(features_of(setting, seed, args.quick))
    folds = grouped_folds(features.subjects, args.folds) if args.folds else loso_folds(features.subjects)
    protocol = f"grouped {args.folds}-fold" if args.folds else f"LOSO ({len(folds)} folds)"
    rows, out, probe = [], {"protocol": protocol, "clips": len(features), "methods": {}}, None
    for name, (params, how) in methods.items():
        predictions, seconds, details = run_fixed_recipe(features, params, folds, seed, tmp / f"{setting}-{seed}",
                                                         name, details=True)
        s = pooled_scores(predictions["y_true"], predictions["y_pred"])
        uar = bootstrap_ci(predictions, metric="uar", n_boot=args.boot, seed=seed)
        uf1 = bootstrap_ci(predictions, metric="uf1", n_boot=args.boot, seed=seed)
        if probe is None:
            probe, diff, lo, hi, versus = predictions, 0.0, 0.0, 0.0, "(reference)"
        else:
            diff, lo, hi = paired_bootstrap(predictions, probe, n_boot=args.boot, seed=seed)
            versus = f"{diff:+.4f} [{lo:+.3f}, {hi:+.3f}]"
        record = {"uar": s["uar"], "uf1": s["uf1"], "diff": diff, "lo": lo, "hi": hi, "seconds": seconds,
                  "predictions": predictions[["fold", "subject", "sample", "y_true", "y_pred"]].to_dict("list")}
        rows.append([name, f"{s['uar']:.4f} [{uar[0]:.3f}, {uar[1]:.3f}]", f"{s['uf1']:.4f} [{uf1[0]:.3f}, "
                     f"{uf1[1]:.3f}]", versus, fmt_s(seconds), how])
        portfolio = {f: d for f, d in details.items() if "portfolio" in d}
        if portfolio:
            record["members"] = member_rows(predictions, portfolio)
            for member, (m_uar, m_uf1, weight) in record["members"].items():
                rows.append([f"  {name}: {member}", f"{m_uar:.4f}", f"{m_uf1:.4f}", "", "",
                             f"member; mean weight {weight:.2f}"])
        out["methods"][name] = record
        print(f"  {setting} seed {seed} {name}: UAR {s['uar']:.4f} UF1 {s['uf1']:.4f} ({fmt_s(seconds)})", flush=True)
    print_table(["method", "UAR [95% CI]", "UF1 [95% CI]", "UAR - probe [paired 95% CI]", "wall", "recipe"],
                rows, title=f"setting {setting}, generator seed {seed}: {len(features)} clips, "
                            f"{len(features.subjects)} subjects, {protocol}, {cpu_count()} CPUs")
    return out


def leave_one_setting_out(results: dict[tuple[str, int], dict], methods: list[str]) -> None:
    """For each held-out setting: the method chosen on the others (best mean UAR) and its held-out score."""
    order = list(SETTINGS)
    settings = sorted({s for s, _ in results}, key=lambda s: order.index(s) if s in order else len(order))
    candidates = [m for m in methods if m != "probe"]
    if len(settings) < 2 or not candidates:
        return

    def mean_uar(method: str, chosen: list[str]) -> float:
        return float(np.mean([r["methods"][method]["uar"] for (s, _), r in results.items() if s in chosen]))

    rows = []
    for held in settings:
        others = [s for s in settings if s != held]
        chosen = max(candidates, key=lambda m: mean_uar(m, others))
        for (s, seed), r in results.items():
            if s != held:
                continue
            m, p = r["methods"][chosen], r["methods"]["probe"]
            rows.append([held, seed, chosen, f"{mean_uar(chosen, others):.4f}", f"{m['uar']:.4f}", f"{p['uar']:.4f}",
                         f"{m['diff']:+.4f} [{m['lo']:+.3f}, {m['hi']:+.3f}]",
                         "yes" if m["lo"] >= PROBE_MARGIN else "NO"])
    print_table(["held-out setting", "seed", "chosen on the others", "its mean UAR there", "held-out UAR",
                 "probe UAR", "chosen - probe [paired 95% CI]", f"lower bound >= {PROBE_MARGIN}"], rows,
                title="leave one setting out: the method with the best mean UAR on the other settings")


def goals(results: dict[tuple[str, int], dict]) -> None:
    """The issue's goals for the recommended recipe, on every (setting, seed)."""
    rows = []
    for (setting, seed), r in results.items():
        rec = r["methods"].get("recommended")
        if rec is None:
            continue
        best_member = max(rec.get("members", {}).items(), key=lambda kv: kv[1][0], default=(None, (np.nan,)))
        rows.append([setting, seed, f"{rec['uar']:.4f}", f"{r['methods']['probe']['uar']:.4f}",
                     f"{rec['diff']:+.4f} [{rec['lo']:+.3f}, {rec['hi']:+.3f}]",
                     "yes" if rec["lo"] >= PROBE_MARGIN else "NO",
                     f"{best_member[0]} {best_member[1][0]:.4f}",
                     "yes" if rec["uar"] >= best_member[1][0] - MEMBER_MARGIN else "NO"])
    if rows:
        print_table(["setting", "seed", "recommended UAR", "probe UAR", "recommended - probe [paired 95% CI]",
                     f"lower bound >= {PROBE_MARGIN}", "best member", f">= best member - {MEMBER_MARGIN}"], rows,
                    title="issue 24 goals for the recommended recipe")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python benchmarks/recipe_quality.py", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    p.add_argument("--seeds", type=int, nargs="+", default=[3], help="generator seeds (default 3: tuned on none)")
    p.add_argument("--methods", nargs="+", default=list(DEFAULT_METHODS), choices=METHODS)
    p.add_argument("--folds", type=int, default=0, help="grouped K folds over subjects instead of LOSO (0)")
    p.add_argument("--boot", type=int, default=1000, help="bootstrap replicates")
    p.add_argument("--save", default="", help="write every figure and prediction to this JSON file")
    p.add_argument("--quick", action="store_true", help="tiny demos and 1 epoch: a smoke run")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="a setting laid over every method but the probe (as mer_ray.loso --set; a stress test: "
                        "recommended --set shufflenet.epochs=2 has networks that lose to the probe)")
    p.add_argument("--tables", nargs="+", default=[], metavar="SAVED",
                   help="no run: print the goals and leave-one-setting-out tables of earlier --save files together")
    args = p.parse_args(argv)
    if args.tables:
        results = {}
        for path in args.tables:
            for key, value in json.loads(Path(path).read_text()).items():
                setting, seed = key.split("|")
                known = results.setdefault((setting, int(seed)), {**value, "methods": {}})
                known["methods"].update(value["methods"])  # methods of one setting from several runs
        names = sorted({m for r in results.values() for m in r["methods"]}, key=lambda m: (m != "probe", m))
        goals(results)
        leave_one_setting_out(results, [m for m in names if all(m in r["methods"] for r in results.values())])
        return 0

    print(machine_line())
    init_ray(num_cpus=cpu_count(), progress_bars=False, fresh=True)
    names = ["probe", *[m for m in args.methods if m != "probe"]]  # the probe is every row's reference
    from mer_ray.methods import with_overrides
    from mer_ray.search.settings import parse_settings

    settings = parse_settings(args.set)
    methods = {}  # resolved once, before any run
    for name in names:
        params, how = recipe(name)
        if settings and name != "probe":
            params, how = with_overrides(params, settings, strict=True), f"{how}; --set {' '.join(args.set)}"
        methods[name] = (quick(params) if args.quick else params, how)
    results, skipped = {}, []
    with tempfile.TemporaryDirectory() as tmp:
        for setting in args.settings:
            for seed in args.seeds:
                try:
                    results[(setting, seed)] = run_setting(setting, seed, methods, args, Path(tmp))
                except Exception as error:  # one setting's failure must not lose the others' runs
                    skipped.append((setting, seed, f"{type(error).__name__}: {error}"))
                    print(f"  SKIPPED {setting} seed {seed}: {type(error).__name__}: {error}", flush=True)
                    continue
                if args.save:
                    Path(args.save).write_text(json.dumps({f"{s}|{k}": v for (s, k), v in results.items()}))
    goals(results)
    leave_one_setting_out(results, names)
    if skipped:
        print_table(["setting", "seed", "why"], [list(row) for row in skipped], title="skipped (no figures)")
    return 1 if skipped else 0


if __name__ == "__main__":
    sys.exit(main())
