"""The recommended (portfolio) recipe's parts on a benchmark setting: each portfolio member's pooled row beside the
combination, and the weights chosen in each fold.

    python benchmarks/portfolio_parts.py --seed 1                  # LOSO over all 30 subjects
    python benchmarks/portfolio_parts.py --seed 2 --subjects 6     # a screen: the folds of 6 subjects only
    python benchmarks/portfolio_parts.py --seed 2 --subjects 6 --compare   # + other combination rules, offline

Runs ``search_spaces/recommended.py`` through ``LosoSearch`` (the same tasks, seeds and predictions as ``run_tune``),
each fold a Ray task, one per CPU; unlike the Tune layer (which returns predictions only) it keeps each fold's
``FoldResult.details`` (the portfolio's weights and its members' held-out scores). ``--compare`` records the
members' out-of-fold probabilities and refits other combination rules and member subsets on them: the same trained
members, so each row is exactly what that portfolio configuration would predict. Choose a rule on a seed you do
not report.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import ray  # noqa: E402
from _common import cpu_count, machine_line  # noqa: E402

from mer_ray.infra.runtime import init_ray  # noqa: E402


@ray.remote(num_cpus=1)
def _fold(task: dict, features) -> dict:
    import torch
    from threadpoolctl import threadpool_limits

    from mer_ray.evaluation.folds import FoldTask
    from mer_ray.methods import parse_config, run_task

    torch.set_num_threads(1)
    with threadpool_limits(limits=1):
        result = run_task(FoldTask.from_dict(task, parse_config), features, "cpu")
    return {"sample_ids": result.sample_ids, "y_pred": result.y_pred.tolist(), "scores": result.scores.tolist(),
            "seconds": result.seconds, "details": result.details}


def run(features, params: dict, folds, seed: int, tmp: Path):
    """(pooled predictions frame, fold name -> details, wall seconds)."""
    from mer_ray.search.scheduler import LosoSearch, Schedule
    from search_spaces.space import SearchSpace

    search = LosoSearch(tmp / "recommended", SearchSpace.of_recipe("recommended", params), features, n_trials=1,
                        seed=seed, folds=folds, log=lambda _: None, max_open_configs=1)
    ref = ray.put(features)
    start = time.perf_counter()
    running, details = {}, {}
    while True:
        task = search.next_fold()
        if task is Schedule.DONE and not running:
            break
        if task not in (Schedule.DONE, Schedule.WAIT):
            running[_fold.remote(task.to_dict(), ref)] = task
            continue
        done, _ = ray.wait(list(running), num_returns=1)
        task = running.pop(done[0])
        out = ray.get(done[0])
        search.complete_fold(task, out["sample_ids"], out["y_pred"], out["scores"], out["seconds"])
        details[task.fold.name] = out["details"]
        print(f"  fold {task.fold.name}: {out['seconds']:.0f} s, weights "
              f"{ {k: round(v, 2) for k, v in out['details']['portfolio']['weights'].items()} }", flush=True)
    return search.all_predictions(), details, time.perf_counter() - start


def variants(members: list[str], confidences=(0.8,), subsets: bool = True) -> list[tuple]:
    """The rules compared: (combiner, objective, members, fallback member, fallback confidence); with ``subsets``,
    also the current rule on the members less one."""
    rules = [("weights", "log_loss", members, "", 0.8)]
    rules += [("weights", "log_loss", members, members[0], c) for c in confidences]
    rules += [("weights", "uar", members, "", 0.8), ("select", "log_loss", members, "", 0.8),
              ("stack", "log_loss", members, "", 0.8)]
    if not subsets:
        return rules
    return rules + [("weights", "log_loss", [m for m in members if m != drop], "", 0.8) for drop in members]


def rule_name(combiner: str, objective: str, fallback: str, confidence: float) -> str:
    return f"{combiner}/{objective}" + (f" fallback {fallback} {confidence:g}" if fallback else "")


def refit(predictions, details: dict, params: dict, rules: list[tuple]) -> list[tuple]:
    """Each rule refitted on the recorded out-of-fold probabilities and applied to the recorded held-out member
    scores: [(rule name, members, pooled predictions frame, fold-seconds of its members)]."""
    import pandas as pd

    from mer_ray.methods import parse_config
    from mer_ray.methods.portfolio_combination import fit_combination

    truth = dict(zip(predictions["sample"], predictions["y_true"]))
    subject = dict(zip(predictions["sample"], predictions["subject"]))
    base = parse_config(params)
    out = []
    for combiner, objective, subset, fallback, confidence in rules:
        config = parse_config({**base.to_dict(), "members": subset, "combiner": combiner, "objective": objective,
                               "inner_settings": {k: v for k, v in base.inner_settings.items() if k in subset},
                               "crossfit": [m for m in base.crossfit if m in subset], "fallback": fallback,
                               "fallback_confidence": confidence})
        sample, y_pred, seconds = [], [], 0.0
        for d in details.values():
            ids = d["inner_ids"]
            y = np.array([d["_truth"][i][0] for i in ids])
            groups = np.array([d["_truth"][i][1] for i in ids])
            combination = fit_combination(config, [np.asarray(d["inner_scores"][m]) for m in subset], y, groups)
            out_p = combination([np.asarray(d["member_scores"][m]) for m in subset])
            sample += list(d["sample_ids"])
            y_pred += out_p.argmax(axis=1).tolist()
            seconds += sum(d["inner_member_seconds"][m] + d["member_seconds"][m] for m in subset)
        frame = pd.DataFrame({"sample": sample, "subject": [subject[i] for i in sample],
                              "y_true": [truth[i] for i in sample], "y_pred": y_pred})
        out.append((rule_name(combiner, objective, fallback, confidence), subset, frame, seconds))
    return out


def compare(predictions, details: dict, params: dict, n_boot: int = 1000) -> list[list[str]]:
    """Other combination rules and member subsets, refitted on the recorded out-of-fold probabilities; each row's
    pooled UAR minus the first member's (the probe's) with its paired 95% interval over subjects."""
    from mer_ray.evaluation.metrics import paired_bootstrap, pooled_scores
    from mer_ray.evaluation.parts import member_predictions

    members = list(params["members"])
    reference = member_predictions(predictions, details)[members[0]]
    rows = []
    for rule, subset, frame, seconds in refit(predictions, details, params, variants(members)):
        s = pooled_scores(frame["y_true"].to_numpy(), frame["y_pred"].to_numpy())
        diff, lo, hi = paired_bootstrap(frame, reference, n_boot=n_boot, seed=0)
        rows.append([rule, "+".join(subset), f"{s['uar']:.4f}", f"{s['uf1']:.4f}",
                     f"{diff:+.4f} [{lo:+.3f}, {hi:+.3f}]", f"{seconds:.0f}"])
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python benchmarks/portfolio_parts.py", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seed", type=int, default=1, help="generator seed (default 1)")
    p.add_argument("--setting", default="hard", help="benchmark setting (benchmarks/_settings.py; default hard)")
    p.add_argument("--features", default="", help="a features folder instead of the setting's demo")
    p.add_argument("--folds", type=int, default=0, help="grouped K folds over subjects instead of LOSO (0)")
    p.add_argument("--subjects", type=int, default=0, help="run the folds of N subjects only (0: all)")
    p.add_argument("--offset", type=int, default=0, help="with --subjects: skip the folds of the first K subjects")
    p.add_argument("--set", default="{}", help="JSON settings laid over the recommended recipe")
    p.add_argument("--compare", action="store_true", help="also refit other rules and member subsets offline")
    p.add_argument("--save", default="", help="write predictions and details to this JSON file")
    p.add_argument("--versus", nargs="*", default=[], help="also run these recipe_quality methods on the same folds "
                   "(LosoSearch + run_tune), e.g. probe recommended")
    p.add_argument("--boot", type=int, default=1000, help="bootstrap replicates of the paired differences")
    args = p.parse_args(argv)

    from _common import grouped_folds, run_fixed_recipe
    from _settings import SETTINGS, setting_features
    from recipe_quality import recipe

    from mer_ray.data.features import load_features
    from mer_ray.evaluation.folds import loso_folds
    from mer_ray.evaluation.parts import member_predictions, portfolio_section
    from search_spaces import get_space

    print(machine_line())
    init_ray(num_cpus=cpu_count(), progress_bars=False, fresh=True)
    if args.setting not in SETTINGS:
        p.error(f"--setting {args.setting}: expected one of {', '.join(SETTINGS)}")
    features = load_features(args.features or setting_features(args.setting, args.seed))
    params = {**get_space("recommended").params(), **json.loads(args.set), **({"record_inner": True} if args.compare
                                                                             else {})}
    folds = grouped_folds(features.subjects, args.folds) if args.folds else loso_folds(features.subjects)
    if args.subjects:
        folds = folds[args.offset : args.offset + args.subjects]
    others = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.versus:
            others[name] = run_fixed_recipe(features, recipe(name)[0], folds, args.seed, Path(tmp), name)
            print(f"  {name}: {others[name][1]:.0f} s", flush=True)
        predictions, details, seconds = run(features, params, folds, args.seed, Path(tmp))
    from mer_ray.evaluation.metrics import paired_bootstrap, pooled_scores

    if others:
        reference = others.get("probe", (None,))[0]
        print("method | UAR | UF1 | UAR - probe [paired 95% CI] | wall s")
        for name, (frame, secs) in [*others.items(), ("recommended", (predictions, seconds))]:
            s = pooled_scores(frame["y_true"], frame["y_pred"])
            versus = ""
            if reference is not None and name != "probe":
                diff, lo, hi = paired_bootstrap(frame, reference, n_boot=args.boot, seed=args.seed)
                versus = f"{diff:+.4f} [{lo:+.3f}, {hi:+.3f}]"
            print(f"{name} | {s['uar']:.4f} | {s['uf1']:.4f} | {versus} | {secs:.0f}")

    labels = dict(zip(features.meta["sample_id"], zip(features.labels.tolist(), features.meta["subject"])))
    for d in details.values():  # the offline comparison's training labels and subjects (the driver's own copy)
        if "inner_ids" in d:
            d["_truth"] = {i: labels[i] for i in d["inner_ids"]}
    protocol = f"{'grouped' if args.folds else 'LOSO'}{'' if not args.subjects else ' screen'}"
    print(f"{args.features or args.setting} seed {args.seed}: {len(features)} clips, {len(features.subjects)} "
          f"subjects, {len(folds)} folds ({protocol}), {cpu_count()} CPUs, wall {seconds:.0f} s")
    for name, frame in member_predictions(predictions, details).items():
        s = pooled_scores(frame["y_true"].to_numpy(), frame["y_pred"].to_numpy(dtype=np.int64))
        print(f"  {name}: UAR {s['uar']:.4f} UF1 {s['uf1']:.4f}")
    print(portfolio_section(predictions, details))
    inner = np.mean([d["inner_seconds"] for d in details.values()])
    final = {m: np.mean([d["member_seconds"][m] for d in details.values()]) for m in params["members"]}
    inner_m = {m: np.mean([d["inner_member_seconds"][m] for d in details.values()]) for m in params["members"]}
    print(f"mean per fold: inner {inner:.0f} s ({ {m: round(v) for m, v in inner_m.items()} }), final "
          f"{ {m: round(v) for m, v in final.items()} } s")
    if args.compare:
        print(f"rule | members | UAR | UF1 | UAR - {params['members'][0]} [paired 95% CI] | fold-seconds (sum over "
              "folds, 1 CPU each)")
        for row in compare(predictions, details, params, args.boot):
            print(" | ".join(row))
    if args.save:
        Path(args.save).write_text(json.dumps({"predictions": predictions.to_dict(orient="list"), "details": details,
                                               "others": {k: v[0].to_dict(orient="list") for k, v in others.items()}},
                                              default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
