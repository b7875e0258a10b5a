"""Combination rules of the recommended (portfolio) recipe judged on saved runs against issue 24's two goals.

    python benchmarks/portfolio_parts.py --setting smic --seed 11 --folds 5 --compare --save smic_s11.json
    python benchmarks/combination_rules.py smic_s11.json hard_s10.json ... [--confidences 0.6 0.8]

Each saved run (``portfolio_parts.py --compare --save``) holds the members' out-of-fold probabilities of the
training clips and their held-out scores, fold by fold. Every rule (the current weights, the same with a fallback to
the probe at each ``--confidences`` level, weights by UAR, one member, stacking) is refitted on them, so the rules
differ only in how they combine the same trained members. Per run and rule: pooled UAR, the paired 95 % interval of
the difference from the probe, and whether both goals hold (lower bound >= -0.02; UAR >= the best member's - 0.02).
Last, per rule: on how many runs both goals hold, and the mean UAR. ``--plot PNG`` draws each run's difference from
the probe with its interval, one marker per rule. Choose a rule on runs you then do not report.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

GOAL_PROBE = -0.02  # lower bound of the paired interval against the probe
GOAL_MEMBER = -0.02  # UAR minus the best single member's


def judge(path: Path, confidences, n_boot: int) -> list[dict]:
    """One row per rule for a saved run: rule, uar, diff, low, high, best (the best member's UAR), goals (bool)."""
    import pandas as pd
    from portfolio_parts import refit, variants

    from mer_ray.evaluation.metrics import paired_bootstrap, pooled_scores
    from mer_ray.evaluation.parts import member_predictions
    from search_spaces import get_space

    saved = json.loads(path.read_text())
    predictions, details = pd.DataFrame(saved["predictions"]), saved["details"]
    if not details or "inner_scores" not in next(iter(details.values())):
        raise SystemExit(f"{path}: no out-of-fold scores recorded (run portfolio_parts.py with --compare --save)")
    params = {**get_space("recommended").params(), "record_inner": True}
    members = list(params["members"])
    frames = member_predictions(predictions, details)
    member_uar = {m: pooled_scores(frames[m]["y_true"].to_numpy(), frames[m]["y_pred"].to_numpy())["uar"]
                  for m in members}
    best = max(member_uar.values())
    rows = []
    for rule, _, frame, _ in refit(predictions, details, params, variants(members, confidences, subsets=False)):
        uar = pooled_scores(frame["y_true"].to_numpy(), frame["y_pred"].to_numpy())["uar"]
        diff, low, high = paired_bootstrap(frame, frames[members[0]], n_boot=n_boot, seed=0)
        rows.append({"rule": rule, "uar": uar, "diff": diff, "low": low, "high": high, "best": best,
                     "members": member_uar, "goals": bool(low >= GOAL_PROBE and uar >= best + GOAL_MEMBER)})
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python benchmarks/combination_rules.py", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("runs", nargs="+", type=Path, help="JSON files of portfolio_parts.py --compare --save")
    p.add_argument("--confidences", nargs="+", type=float, default=[0.8],
                   help="fallback confidences to judge (default 0.8)")
    p.add_argument("--boot", type=int, default=1000, help="bootstrap replicates of the paired differences")
    p.add_argument("--plot", type=Path, help="also draw the differences from the probe to this PNG")
    args = p.parse_args(argv)

    tally: dict[str, list] = {}
    judged = {}
    for path in args.runs:
        rows = judged[path.stem] = judge(path, args.confidences, args.boot)
        members = " ".join(f"{m} {u:.3f}" for m, u in rows[0]["members"].items())
        print(f"\n{path.name}: {members}")
        print("rule | UAR | UAR - probe [paired 95% CI] | UAR - best member | both goals")
        for r in rows:
            print(f"{r['rule']} | {r['uar']:.4f} | {r['diff']:+.4f} [{r['low']:+.3f}, {r['high']:+.3f}] | "
                  f"{r['uar'] - r['best']:+.4f} | {'yes' if r['goals'] else 'NO'}")
            tally.setdefault(r["rule"], []).append((r["goals"], r["uar"]))
    print(f"\nover {len(args.runs)} runs: rule | runs with both goals | mean UAR")
    for rule, results in tally.items():
        print(f"{rule} | {sum(g for g, _ in results)} of {len(results)} | "
              f"{sum(u for _, u in results) / len(results):.4f}")
    if args.plot:
        plot(judged, args.plot)
        print(f"wrote {args.plot}")
    return 0


def plot(judged: dict[str, list[dict]], path: Path) -> None:
    """Each run's UAR minus the probe's with its paired 95 % interval, one marker per rule; the goal's -0.02 line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = list(judged)
    rules = [r["rule"] for r in judged[runs[0]]]
    fig, ax = plt.subplots(figsize=(max(6.0, 0.7 * len(runs) + 2), 4.2))
    width = 0.8 / len(rules)
    for k, rule in enumerate(rules):
        x = [i - 0.4 + width * (k + 0.5) for i in range(len(runs))]
        rows = [next(r for r in judged[run] if r["rule"] == rule) for run in runs]
        y = [r["diff"] for r in rows]
        err = [[r["diff"] - r["low"] for r in rows], [r["high"] - r["diff"] for r in rows]]
        ax.errorbar(x, y, yerr=err, fmt="o", ms=4, capsize=2, label=rule)
    ax.axhline(0.0, color="black", lw=0.8)
    ax.axhline(GOAL_PROBE, color="red", lw=0.8, ls="--", label=f"goal: lower bound >= {GOAL_PROBE}")
    ax.set_xticks(range(len(runs)), runs, rotation=45, ha="right")
    ax.set_ylabel("pooled UAR - probe (paired 95% CI)")
    ax.set_title("combination rules refitted on the same members")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
