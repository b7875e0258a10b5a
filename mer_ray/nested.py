"""Nested LOSO: a search inside every outer fold, on that fold's training subjects only (``--nested``).

For each outer subject s: an Optuna search whose configurations are scored by pooled predictions over K inner
folds (groups of the OTHER subjects; s is excluded from every inner fold), then the best configuration is
retrained on all subjects but s and predicts s. The outer predictions, pooled, are an unbiased estimate of the
whole procedure "search + train", unlike the best score of a search over the same LOSO folds.

    RUN/nested/<outer>/            an inner search (LosoSearch layout: optuna.db, configs/, folds/)
    RUN/nested/<outer>/final.parquet   the outer subject's predictions by the configuration chosen inside
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pandas as pd

from mer_ray.data import FeatureSet
from mer_ray.metrics import score_predictions
from mer_ray.search import (
    FINISHED,
    Fold,
    FoldTask,
    LosoSearch,
    _fmt,
    predictions_frame,
    subject_filename,
    write_parquet_atomic,
)
from mer_ray.train import fold_seed

FINAL = "final"


def inner_folds(subjects: list[str], outer: str, k: int, seed: int) -> list[Fold]:
    """K groups of the subjects other than ``outer`` (shuffled with ``seed``); ``outer`` is excluded from all."""
    others = [s for s in subjects if s != outer]
    if len(others) < 2:
        raise ValueError(f"a nested search needs at least 3 subjects; got {len(subjects)}")
    k = max(2, min(k, len(others)))
    order = np.random.default_rng(seed).permutation(len(others))
    groups = [tuple(sorted(others[i] for i in order[g::k])) for g in range(k)]
    return [Fold(f"g{g}", group, (outer,)) for g, group in enumerate(groups)]


class NestedLosoSearch:
    """Schedules every outer fold's inner search and final fit; same interface as :class:`LosoSearch`."""

    def __init__(
        self,
        run_dir: Path,
        space: ModuleType,
        features: FeatureSet,
        *,
        n_trials: int,
        inner_k: int = 4,
        seed: int = 0,
        objective: str = "uar",
        overrides: dict[str, Any] | None = None,
        use_demo_space: bool = False,
        log: Callable[[str], None] = print,
    ):
        self.run_dir = Path(run_dir).resolve()
        self.features = features
        self.seed = seed
        self.objective = objective
        self.log = log
        self.outer = features.subjects
        self.truth = features.meta.set_index("sample_id")[["dataset", "subject", "label"]]
        self.inner: dict[str, LosoSearch] = {}
        for subject in self.outer:
            folds = inner_folds(self.outer, subject, inner_k, fold_seed(seed, "inner-split", subject))
            self.inner[subject] = LosoSearch(
                self.run_dir / "nested" / subject_filename(subject), space, features, n_trials=n_trials, seed=seed,
                objective=objective, overrides=overrides, use_demo_space=use_demo_space, max_open_configs=1,
                folds=folds, log=lambda _: None,
            )
        self.final_issued: set[str] = set()
        self.started = time.monotonic()
        self.done_now = 0
        self.n_trials = n_trials
        self.k = len(next(iter(self.inner.values())).folds)

    @property
    def folds_total(self) -> int:
        return len(self.outer) * (self.n_trials * self.k + 1)

    def final_path(self, subject: str) -> Path:
        return self.run_dir / "nested" / subject_filename(subject) / "final.parquet"

    def next_fold(self) -> FoldTask | str | None:
        waiting = False
        for subject in self.outer:
            if self.final_path(subject).is_file() or subject in self.final_issued:
                continue
            task = self.inner[subject].next_fold()
            if task == FINISHED:
                final = self._final_task(subject)
                if final is None:  # every configuration failed: nothing to refit
                    continue
                self.final_issued.add(subject)
                return final
            if task is None:
                waiting = True
                continue
            return task
        return None if waiting or self.final_issued else FINISHED

    def _final_task(self, subject: str) -> FoldTask | None:
        board = self.inner[subject].leaderboard()
        done = board[board["state"] == "COMPLETE"] if not board.empty else board
        if done.empty:
            self.log(f"nested: every configuration failed inside outer fold {subject}; it has no prediction")
            return None
        best = done.iloc[0]["config_id"]
        params = json.loads((self.inner[subject].run_dir / "configs" / f"{best}.json").read_text())
        seed = fold_seed(self.seed, f"{FINAL}-{best}", subject)
        return FoldTask(f"{FINAL}:{best}", subject, params, seed, (subject,), ())

    def complete_fold(self, task: FoldTask, sample_ids: list[str], y_pred: list[int], scores: list[list[float]],
                      seconds: float = float("nan")) -> None:
        self.done_now += 1
        if not task.config_id.startswith(f"{FINAL}:"):
            outer = task.exclude[0]
            self.inner[outer].complete_fold(task, sample_ids, y_pred, scores, seconds)
        else:
            frame = predictions_frame(self.truth, task, sample_ids, y_pred, scores, seconds)
            frame.insert(1, "chosen", task.config_id.split(":", 1)[1])
            frame["config_id"] = "nested"
            write_parquet_atomic(frame, self.final_path(task.fold))
            self.final_issued.discard(task.fold)
        self._progress()

    def fail_fold(self, task: FoldTask, error: str) -> None:
        if task.config_id.startswith(f"{FINAL}:"):
            self.final_issued.discard(task.fold)
            self.log(f"nested: the final fit of outer fold {task.fold} FAILED: {error.splitlines()[-1][:200]}")
            (self.final_path(task.fold).with_suffix(".failed")).write_text(error)
            return
        self.inner[task.exclude[0]].fail_fold(task, error)

    def outer_predictions(self) -> pd.DataFrame:
        files = [self.final_path(s) for s in self.outer if self.final_path(s).is_file()]
        return pd.concat([pd.read_parquet(f) for f in files], ignore_index=True) if files else pd.DataFrame()

    def summary(self) -> dict[str, Any]:
        """Pooled outer scores (the unbiased figure) and the configuration chosen in each outer fold."""
        predictions = self.outer_predictions()
        complete = len(predictions["subject"].unique()) == len(self.outer) if not predictions.empty else False
        scores = score_predictions(predictions) if complete else {}
        chosen = predictions.groupby("subject")["chosen"].first().to_dict() if not predictions.empty else {}
        return {"complete": complete, "scores": scores, "chosen": chosen}

    def _progress(self) -> None:
        done = sum(1 for _ in (self.run_dir / "nested").glob("*/folds/*/*.parquet")) + sum(
            self.final_path(s).is_file() for s in self.outer)
        finals = sum(self.final_path(s).is_file() for s in self.outer)
        elapsed = time.monotonic() - self.started
        eta = elapsed / self.done_now * max(0, self.folds_total - done) if self.done_now else float("nan")
        self.log(f"[nested: fits {done}/{self.folds_total} | outer folds {finals}/{len(self.outer)} | "
                 f"elapsed {_fmt(elapsed)} | ETA {_fmt(eta)}]")
