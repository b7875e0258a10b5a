"""Calibration of the hard demo preset: the linear probe's pooled LOSO UAR on the stored features.

    python benchmarks/_probe_calibration.py --seeds 0 1 2              # build each seed's hard demo, then probe
    python benchmarks/_probe_calibration.py --seeds 0 --nonlinear      # + the nonlinear sanity checks
    python benchmarks/_probe_calibration.py --features /tmp/hard_s0    # probe an existing features folder

Building a seed runs exactly what a user runs, timed: ``python -m preprocessing demo --preset hard --seed S``
(generation, into the cache) then ``python -m preprocessing run --dataset-option demo.preset=hard
--dataset-option demo.seed=S --out OUT/hard_sS`` (preprocessing; it reuses the generated demo). ``--rebuild``
deletes the cached demo and the features folder first (after a change of the generator, whose cache key would
not see a code change).

The probe (the definition the project implements as a method): flow channels u, v times the mask, area-pooled
to 16x16 (512 features); ``StandardScaler`` + ``LogisticRegression(class_weight="balanced")`` with C chosen per
outer fold among 0.001 / 0.01 / 0.1 / 1 by a 4-fold ``GroupKFold`` over the training subjects (balanced
accuracy); leave-one-subject-out; predictions pooled; UAR = macro recall over labels 0, 1, 2, UF1 = macro F1.
``--nonlinear`` adds an RBF SVC (C and gamma chosen the same way) and a one-hidden-layer MLP (64 units, L2
alpha chosen the same way), ``--hgb`` a histogram gradient boosting classifier, all on the same features: the
classes must stay learnable, so a nonlinear model should not be worse than the probe.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

LABELS = [0, 1, 2]
GRID = [0.001, 0.01, 0.1, 1.0]
POOL = 16


def pooled_features(data) -> np.ndarray:
    """(N, 512) float64: u, v times the mask, mean over 14x14 cells of the 224-px flow (16x16 cells)."""
    flow = data.flow[:, :2].astype(np.float64) * data.mask[:, None].astype(np.float64)  # (N, 2, S, S)
    n, c, size, _ = flow.shape
    if size % POOL:
        raise ValueError(f"flow side {size} is not a multiple of {POOL}")
    cell = size // POOL
    return flow.reshape(n, c, POOL, cell, POOL, cell).mean(axis=(3, 5)).reshape(n, -1)


def loso_predictions(x: np.ndarray, y: np.ndarray, groups: np.ndarray, make_search) -> np.ndarray:
    """Pooled leave-one-subject-out predictions; ``make_search()`` is fitted on each fold's training subjects."""
    from sklearn.model_selection import LeaveOneGroupOut

    pred = np.empty_like(y)
    for train, test in LeaveOneGroupOut().split(x, y, groups):
        search = make_search()
        search.fit(x[train], y[train], groups=groups[train])
        pred[test] = search.predict(x[test])
    return pred


def probe_search():
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV, GroupKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    pipe = make_pipeline(StandardScaler(), LogisticRegression(class_weight="balanced", max_iter=3000))
    return GridSearchCV(pipe, {"logisticregression__C": GRID}, cv=GroupKFold(4), scoring="balanced_accuracy")


def svc_search():
    from sklearn.model_selection import GridSearchCV, GroupKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    pipe = make_pipeline(StandardScaler(), SVC(kernel="rbf", class_weight="balanced"))
    grid = {"svc__C": [0.1, 1.0, 10.0], "svc__gamma": [0.1 / 512, 1 / 512]}  # 1 / 512 = "scale" on z-scores
    return GridSearchCV(pipe, grid, cv=GroupKFold(4), scoring="balanced_accuracy")


class _Fixed:
    """A fixed estimator with the search interface ``loso_predictions`` expects (``fit(..., groups=)``)."""

    def __init__(self, estimator):
        self.estimator = estimator

    def fit(self, x, y, groups=None):
        self.estimator.fit(x, y)
        return self

    def predict(self, x):
        return self.estimator.predict(x)


def hgb_search():
    from sklearn.ensemble import HistGradientBoostingClassifier

    return _Fixed(HistGradientBoostingClassifier(max_iter=100, learning_rate=0.1, max_depth=3,
                                                 class_weight="balanced", early_stopping=False, random_state=0))


def mlp_search():
    from sklearn.model_selection import GridSearchCV, GroupKFold
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    pipe = make_pipeline(StandardScaler(), MLPClassifier((64,), max_iter=2000, random_state=0))
    return GridSearchCV(pipe, {"mlpclassifier__alpha": [1.0, 10.0]}, cv=GroupKFold(4), scoring="balanced_accuracy")


METHODS = {"linear probe": probe_search, "RBF SVC": svc_search, "MLP": mlp_search,
           "HistGradientBoosting": hgb_search}


def scores(y: np.ndarray, pred: np.ndarray) -> tuple[float, float]:
    from sklearn.metrics import f1_score, recall_score

    return (float(recall_score(y, pred, average="macro", labels=LABELS, zero_division=0)),
            float(f1_score(y, pred, average="macro", labels=LABELS, zero_division=0)))


def evaluate(features: Path, methods: list[str]) -> dict[str, tuple[float, float, float]]:
    """``{method: (UAR, UF1, seconds)}`` on one features folder."""
    from mer_ray.data.features import load_features

    data = load_features(features)
    x = pooled_features(data)
    y = data.labels.astype(np.int64) if hasattr(data.labels, "astype") else np.asarray(data.labels)
    groups = data.meta["subject"].to_numpy()
    counts = np.bincount(y, minlength=3)
    print(f"  {features}: {len(y)} clips, {len(set(groups))} subjects, classes {counts.tolist()}", flush=True)
    out = {}
    for name in methods:
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pred = loso_predictions(x, y, groups, METHODS[name])
        uar, uf1 = scores(y, pred)
        out[name] = (uar, uf1, time.perf_counter() - start)
        print(f"  {name:>22}: UAR {uar:.3f}  UF1 {uf1:.3f}  ({out[name][2]:.0f} s)", flush=True)
    return out


def build(seed: int, out_root: Path, rebuild: bool) -> tuple[Path, float, float]:
    """Generate, then preprocess, seed ``seed``'s hard demo with the CLIs; ``(features, generation s, prep. s)``."""
    from preprocessing.demo import default_root

    env = {**os.environ, "RAY_AUTH_MODE": os.environ.get("RAY_AUTH_MODE", "disabled")}
    features = out_root / f"hard_s{seed}"
    if rebuild:
        shutil.rmtree(default_root(seed, "hard"), ignore_errors=True)
        shutil.rmtree(features, ignore_errors=True)
    commands = [
        [sys.executable, "-m", "preprocessing", "demo", "--preset", "hard", "--seed", str(seed)],
        [sys.executable, "-m", "preprocessing", "run", "--dataset-option", "demo.preset=hard", "--dataset-option",
         f"demo.seed={seed}", "--out", str(features)],
    ]
    seconds = []
    for command in commands:
        print("  $ " + " ".join(command[1:]).replace(sys.executable, "python"), flush=True)
        start = time.perf_counter()
        result = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True)
        seconds.append(time.perf_counter() - start)
        if result.returncode:
            sys.exit(f"failed ({result.returncode}):\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
        last = [line for line in result.stdout.splitlines() if line.strip()][-3:]
        print("    " + "\n    ".join(last) + f"\n    ({seconds[-1]:.0f} s)", flush=True)
    return features, seconds[0], seconds[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--features", type=Path, nargs="+", help="features folders to probe (no building)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0], help="generator seeds to build (default 0)")
    parser.add_argument("--seed", type=int, dest="one_seed", help="one generator seed (same as --seeds S)")
    parser.add_argument("--out-root", type=Path, default=Path("/tmp"), help="features go to OUT/hard_sS")
    parser.add_argument("--rebuild", action="store_true", help="delete the cached demo and features first")
    parser.add_argument("--nonlinear", action="store_true",
                        help="also an RBF SVC (C and gamma searched) and a one-hidden-layer MLP (alpha searched)")
    parser.add_argument("--hgb", action="store_true", help="also histogram gradient boosting (minutes)")
    args = parser.parse_args(argv)
    methods = ["linear probe", *(["RBF SVC", "MLP"] if args.nonlinear else []),
               *(["HistGradientBoosting"] if args.hgb else [])]
    rows = []
    if args.features:
        for folder in args.features:
            rows.append((str(folder), None, None, evaluate(folder, methods)))
    else:
        for seed in [args.one_seed] if args.one_seed is not None else args.seeds:
            print(f"seed {seed}", flush=True)
            folder, generation, preprocessing = build(seed, args.out_root, args.rebuild)
            rows.append((f"seed {seed}", generation, preprocessing, evaluate(folder, methods)))
    print("\n| data | generation s | preprocessing s | " + " | ".join(f"{m} UAR / UF1" for m in methods) + " |")
    print("|---|---|---|" + "---|" * len(methods))
    for name, generation, preprocessing, result in rows:
        timing = [f"{generation:.0f}" if generation is not None else "-",
                  f"{preprocessing:.0f}" if preprocessing is not None else "-"]
        cells = [f"{result[m][0]:.3f} / {result[m][1]:.3f}" for m in methods]
        print(f"| {name} | " + " | ".join(timing + cells) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
