"""Nested LOSO: a search inside every outer fold, on that fold's training subjects only (``--nested``).

For each outer subject s: an Optuna search whose configurations are scored by pooled predictions over K inner
folds (groups of the OTHER subjects; s is excluded from every inner fold), then the best configuration is
retrained on all subjects but s and predicts s. The outer predictions, pooled, are an unbiased estimate of the
whole procedure "search + train", unlike the best score of a search over the same LOSO folds.

    RUN/nested/<outer>/            an inner search (LosoSearch layout: optuna.db, configs/, folds/)
    RUN/nested/<outer>/final.parquet   the outer subject's predictions by the configuration chosen inside
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from mer_ray.data.features import FeatureSet
from mer_ray.evaluation.folds import Fold, FoldTask, fold_seed, inner_folds
from mer_ray.evaluation.metrics import score_predictions
from mer_ray.methods import parse_config
from mer_ray.search.display import timing_text
from mer_ray.search.run_folder import RunFolder, write_parquet
from mer_ray.search.scheduler import LosoSearch, Schedule, predictions_frame
from search_spaces.space import SearchSpace

NESTED_CONFIG_ID = "nested"  # config_id of the outer predictions (each row's ``chosen`` names its configuration)


class NestedLosoSearch:
    """Schedules every outer fold's inner search and final fit: a
    :class:`~mer_ray.search.scheduler.FoldScheduler`, like :class:`LosoSearch`."""

    def __init__(
        self,
        run_dir: Path | RunFolder,
        space: SearchSpace,
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
        self.folder = run_dir if isinstance(run_dir, RunFolder) else RunFolder(run_dir)
        self.run_dir = self.folder.root
        self.features = features
        self.seed = seed
        self.objective = objective
        self.log = log
        self.on_fold_epoch: Callable[..., None] | None = None  # no live display of the nested epochs
        self.outer = features.subjects
        self.truth = features.meta.set_index("sample_id")[["dataset", "subject", "label"]]
        self.inner: dict[str, LosoSearch] = {}
        for subject in self.outer:
            folds = inner_folds(self.outer, subject, inner_k, fold_seed(seed, "inner-split", subject))
            self.inner[subject] = LosoSearch(
                self.folder.nested(subject), space, features, n_trials=n_trials, seed=seed,
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
        return self.folder.nested(subject).final_path

    def next_fold(self) -> FoldTask | Schedule:
        waiting = False
        for subject in self.outer:
            if self.final_path(subject).is_file() or subject in self.final_issued:
                continue
            task = self.inner[subject].next_fold()
            if task is Schedule.DONE:
                final = self._final_task(subject)
                if final is None:  # every configuration failed: nothing to refit
                    continue
                self.final_issued.add(subject)
                return final
            if task is Schedule.WAIT:
                waiting = True
                continue
            return task
        return Schedule.WAIT if waiting or self.final_issued else Schedule.DONE

    def _final_task(self, subject: str) -> FoldTask | None:
        board = self.inner[subject].leaderboard()
        done = board[board["state"] == "COMPLETE"] if not board.empty else board
        if done.empty:
            self.log(f"nested: every configuration failed inside outer fold {subject}; it has no prediction")
            return None
        best = done.iloc[0]["config_id"]
        config = parse_config(self.inner[subject].folder.read_config(best))
        seed = fold_seed(self.seed, f"final-{best}", subject)
        return FoldTask(best, Fold(subject, (subject,)), config, seed, nested_final=True)

    def complete_fold(self, task: FoldTask, sample_ids: list[str], y_pred: list[int], scores: list[list[float]],
                      seconds: float = float("nan"), details: dict | None = None) -> None:
        self.done_now += 1
        if not task.nested_final:
            self.inner[task.fold.exclude[0]].complete_fold(task, sample_ids, y_pred, scores, seconds, details)
        else:
            frame = predictions_frame(self.truth, task, sample_ids, y_pred, scores, seconds)
            frame.insert(1, "chosen", task.config_id)
            frame["config_id"] = NESTED_CONFIG_ID
            write_parquet(frame, self.final_path(task.fold.name))
            self.final_issued.discard(task.fold.name)
        self._progress()

    def fail_fold(self, task: FoldTask, error: str) -> None:
        if task.nested_final:
            self.final_issued.discard(task.fold.name)
            self.log(f"nested: the final fit of outer fold {task.fold.name} FAILED: {error.splitlines()[-1][:200]}")
            (self.final_path(task.fold.name).with_suffix(".failed")).write_text(error)
            return
        self.inner[task.fold.exclude[0]].fail_fold(task, error)

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
        self.log(f"[nested: fits {done}/{self.folds_total} | outer folds {finals}/{len(self.outer)} | "
                 f"{timing_text(time.monotonic() - self.started, self.done_now, self.folds_total - done)}]")
