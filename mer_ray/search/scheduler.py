"""The Optuna ask/tell scheduler of a LOSO search, without Ray: configurations, their folds, pooling.

One configuration = one Optuna trial = one fold per subject. Optuna is told the POOLED objective of a
configuration once all its folds are in (never a mean of per-fold scores). Everything is persisted in the run
folder (:class:`~mer_ray.search.run_folder.RunFolder`) so that ``--resume`` continues without re-running finished folds.
"""

from __future__ import annotations

import json
import time
from collections import deque
from collections.abc import Callable
from enum import Enum
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import optuna
import pandas as pd

from mer_ray.data.features import FeaturesError, FeatureSet
from mer_ray.evaluation import au_task
from mer_ray.evaluation.folds import Fold, FoldTask, fold_seed, loso_folds
from mer_ray.evaluation.metrics import score_predictions
from mer_ray.methods import DEFAULT_METHOD, check_inputs, check_task, parse_config, run_task, with_overrides
from mer_ray.search.display import timing_text
from mer_ray.search.run_folder import RunFolder
from search_spaces.space import SearchSpace

OBJECTIVES = ("uar", "uf1")
STUDY_NAME = "loso"


class Schedule(Enum):
    """What a scheduler says when it hands out no fold task."""

    WAIT = "wait"  # nothing to start now: the folds in flight decide what comes next
    DONE = "done"  # every fold of every configuration is finished (or failed)


@runtime_checkable
class FoldScheduler(Protocol):
    """What :func:`mer_ray.search.tune.run_tune` (and :func:`run_serial`) drive: a source of fold tasks that is told
    each fold's outcome. :class:`LosoSearch` and :class:`~mer_ray.search.nested.NestedLosoSearch` implement it."""

    features: FeatureSet  # every clip, put once in Ray's object store
    folder: RunFolder  # where trials, curves and Tune's own files go
    log: Callable[[str], None]
    # a live display's hook, told each running fold's epochs (task, phase, epoch, values); None without a display
    on_fold_epoch: Callable[..., None] | None

    @property
    def folds_total(self) -> int: ...

    def next_fold(self) -> FoldTask | Schedule:
        """The next fold to run, or :attr:`Schedule.WAIT` / :attr:`Schedule.DONE`."""

    def complete_fold(self, task: FoldTask, sample_ids: list[str], y_pred: list[int], scores: list[list[float]],
                      seconds: float = float("nan"), details: dict | None = None) -> None:
        """A fold's held-out predictions (the labels are joined by the scheduler, never by the trainer) and its
        method's record (``FoldResult.details``), if any."""

    def fail_fold(self, task: FoldTask, error: str) -> None:
        """A fold failed for good (after Tune's retries)."""


class LosoSearch:
    """Hands out folds of Optuna-suggested configurations and pools their predictions.

    Args:
        run_dir: the run folder (created; reused by ``--resume``).
        space: the search space.
        features: all clips (unmasked; this object keeps the labels and joins them to predictions).
        n_trials: configurations to evaluate.
        seed: base seed of the sampler and of every fold.
        objective: pooled metric Optuna maximises: ``"uar"`` or ``"uf1"``.
        overrides: training parameters forced on every configuration (demo sizes, smoke-test limits).
        use_demo_space: draw from the space's ``suggest_demo`` (the built-in demo's CPU-sized space).
        max_open_configs: configurations whose folds may be in flight at once.
        folds: the splits (default: leave one subject out over every subject of ``features``).
        log: where progress lines go.
        au: AU detection (``--task au``; :class:`~mer_ray.evaluation.au_task.AuTask`): every fold predicts the AUs'
            presence, the predictions' ``y_true`` / ``y_pred`` / ``scores`` hold one value per AU, and the
            objective is ``f1_macro`` or ``f1_binary`` (:func:`mer_ray.evaluation.au_task.au_scores`).

    Raises:
        mer_ray.data.features.FeaturesError: a method of the space needs arrays ``features`` lacks (checked here,
            before any fold, for every method the space names in advance: :func:`space_methods`).
    """

    def __init__(
        self,
        run_dir: Path | RunFolder,
        space: SearchSpace,
        features: FeatureSet,
        *,
        n_trials: int,
        seed: int = 0,
        objective: str = "uar",
        overrides: dict[str, Any] | None = None,
        use_demo_space: bool = False,
        max_open_configs: int = 2,
        folds: list[Fold] | None = None,
        log: Callable[[str], None] = print,
        au: au_task.AuTask | None = None,
    ):
        valid = OBJECTIVES if au is None else au_task.OBJECTIVES
        if objective not in valid:
            raise ValueError(f"objective must be one of {list(valid)}; got {objective!r}")
        if n_trials < 1:
            raise ValueError(f"n_trials must be >= 1; got {n_trials}")
        check_space_inputs(space, features, demo=use_demo_space)
        self.folder = (run_dir if isinstance(run_dir, RunFolder) else RunFolder(run_dir)).make()
        self.run_dir = self.folder.root
        self.space = space
        self.features = features
        self.n_trials = n_trials
        self.seed = seed
        self.objective = objective
        self.overrides = dict(overrides or {})
        self.use_demo_space = use_demo_space
        self.max_open_configs = max(1, max_open_configs)
        self.log = log
        self.folds = folds or loso_folds(features.subjects)
        self.au = au
        self.truth = features.meta.set_index("sample_id")[["dataset", "subject", "label"]]
        if au is not None:  # the driver's own copy of every clip's AU presence (joined to the predictions)
            present = au_task.au_matrix(features.meta[au_task.AU_COLUMN].tolist(), au.aus)
            self.truth = self.truth.assign(au_true=[row.tolist() for row in present])
        self.storage = optuna.storages.RDBStorage(self.folder.optuna_storage)
        self.study = optuna.create_study(
            study_name=STUDY_NAME, storage=self.storage, direction="maximize", load_if_exists=True
        )
        self.pending: deque[FoldTask] = deque()
        self.open: dict[str, optuna.Trial] = {}  # configurations whose folds are still outstanding
        self.started = time.monotonic()
        self.folds_done_now = 0
        # a live display (mer_ray/search/display.py) replaces the per-fold progress lines when set:
        # called with done, total, configs_done, configs_total, best (text) after every fold
        self.on_progress: Callable[..., None] | None = None
        # and is told each running fold's epochs: (task, phase, epoch, values); phase None when the fold is done
        self.on_fold_epoch: Callable[..., None] | None = None
        self._resume_open_trials()

    # ---- configurations -------------------------------------------------------------------------------

    @property
    def folds_total(self) -> int:
        return self.n_trials * len(self.folds)

    def _sampler(self, number: int) -> optuna.samplers.BaseSampler:
        """A sampler seeded per trial number, so a resumed run draws what an uninterrupted one would."""
        trial_seed = self.seed * 100_003 + number
        if self.space.sampler == "grid":
            return optuna.samplers.GridSampler(dict(self.space.grid), seed=self.seed)
        if self.space.sampler == "fixed":
            return optuna.samplers.RandomSampler(seed=trial_seed)  # nothing is sampled
        return optuna.samplers.TPESampler(seed=trial_seed, n_startup_trials=self.space.startup)

    def _resolve(self, suggested: dict[str, Any]) -> dict[str, Any]:
        params = {**self.space.params(self.use_demo_space), **suggested}
        # forced parameters (smoke-test limits, saved pretraining) apply where the method has them
        params = with_overrides(params, self.overrides)
        config = parse_config(params)  # validates every value before any fold runs
        check_inputs(config.method, self.features)  # a method the space chose only now
        check_task(config, self.au)  # --task au: a configuration without a multi-label form
        return config.to_dict()

    def _ask(self) -> None:
        number = len(self.study.trials)
        self.study.sampler = self._sampler(number)
        first = self.space.first_trial
        if number == 0 and first and not self.use_demo_space and self.space.sampler == "tpe":
            self.study.enqueue_trial(dict(first))  # start from the space's known-good recipe
        trial = self.study.ask()
        suggest = self.space.suggester(self.use_demo_space)
        try:
            params = self._resolve(suggest(trial))
        except FeaturesError:
            self.study.tell(trial, state=optuna.trial.TrialState.FAIL)
            raise
        except ValueError as err:
            self.study.tell(trial, state=optuna.trial.TrialState.FAIL)
            raise ValueError(f"search space {self.space.name} produced an invalid configuration: {err}") from err
        config_id = f"c{trial.number:03d}"
        trial.set_user_attr("config_id", config_id)
        trial.set_user_attr("label", "/".join(map(str, trial.params.values())) if trial.params else config_id)
        self.folder.write_config(config_id, params)
        self._open(config_id, trial, params)

    def _open(self, config_id: str, trial: optuna.Trial, params: dict[str, Any]) -> None:
        self.open[config_id] = trial
        config = parse_config(params)
        for fold in self.folds:
            if not self.folder.has_fold(config_id, fold.name):
                self.pending.append(FoldTask(config_id, fold, config, fold_seed(self.seed, config_id, fold.name),
                                             au=self.au))
        self._pool_if_complete(config_id)

    def _resume_open_trials(self) -> None:
        """Configurations asked by an interrupted run: their unfinished folds go first."""
        for frozen in self.study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
            config_id = frozen.user_attrs.get("config_id", f"c{frozen.number:03d}")
            params = self.folder.read_config(config_id)
            if params is None:  # asked but never recorded: drop it, it had no folds
                self.study.tell(frozen.number, state=optuna.trial.TrialState.FAIL)
                continue
            trial_id = self.storage.get_trial_id_from_study_id_trial_number(
                self.storage.get_study_id_from_name(STUDY_NAME), frozen.number)
            trial = optuna.trial.Trial(self.study, trial_id)
            self._open(config_id, trial, params)
        if self.open:
            self.log(f"resuming {len(self.open)} unfinished configurations ({len(self.pending)} folds to run)")

    @property
    def asked(self) -> int:
        return len(self.study.trials)

    def next_fold(self) -> FoldTask | Schedule:
        """The next fold to run, or :attr:`Schedule.WAIT` (folds in flight first) / :attr:`Schedule.DONE`."""
        while not self.pending:
            if self.asked >= self.n_trials:
                return Schedule.DONE if not self.open else Schedule.WAIT
            if len(self.open) >= self.max_open_configs:
                return Schedule.WAIT
            self._ask()
        return self.pending.popleft()

    # ---- folds ----------------------------------------------------------------------------------------

    def complete_fold(self, task: FoldTask, sample_ids: list[str], y_pred: list[int], scores: list[list[float]],
                      seconds: float = float("nan"), details: dict | None = None) -> None:
        """Persist one fold's predictions (labels joined here, never by the trainer) and pool when complete."""
        frame = predictions_frame(self.truth, task, sample_ids, y_pred, scores, seconds)
        if details:  # before the fold file: a finished fold always has its record
            self.folder.write_fold_details(details, task.config_id, task.fold.name)
        self.folder.write_fold(frame, task.config_id, task.fold.name)
        self.folds_done_now += 1
        self._pool_if_complete(task.config_id)
        self._progress()

    def fail_fold(self, task: FoldTask, error: str) -> None:
        """A fold failed for good (after retries): its configuration cannot be pooled honestly."""
        trial = self.open.pop(task.config_id, None)
        self.pending = deque(t for t in self.pending if t.config_id != task.config_id)
        if trial is not None:
            trial.set_user_attr("error", f"fold {task.fold.name}: {error}"[:2000])
            self.study.tell(trial, state=optuna.trial.TrialState.FAIL)
            self.log(f"configuration {task.config_id} FAILED on fold {task.fold.name}: "
                     f"{error.splitlines()[-1][:200]}")

    def config_predictions(self, config_id: str) -> pd.DataFrame:
        return self.folder.fold_predictions(config_id)

    def _pool_if_complete(self, config_id: str) -> None:
        if config_id not in self.open:
            return
        if not all(self.folder.has_fold(config_id, f.name) for f in self.folds):
            return
        trial = self.open.pop(config_id)
        frame = self.config_predictions(config_id)
        scores = score_predictions(frame) if self.au is None else au_task.au_scores(frame, self.au)
        for key, value in scores.items():
            trial.set_user_attr(key, value)
        if np.isnan(scores[self.objective]):  # --task au: no AU scored in any fold (each too rare in training)
            trial.set_user_attr("error", "no AU was scored in any fold: every AU had too few positive training clips")
            self.study.tell(trial, state=optuna.trial.TrialState.FAIL)
            return
        self.study.tell(trial, scores[self.objective])

    # ---- results --------------------------------------------------------------------------------------

    def leaderboard(self) -> pd.DataFrame:
        """One row per evaluated configuration: config_id, pooled scores, per-dataset slices, parameters."""
        rows = []
        for trial in self.study.get_trials(deepcopy=False):
            config_id = trial.user_attrs.get("config_id", f"c{trial.number:03d}")
            row: dict[str, Any] = {"config_id": config_id, "state": trial.state.name}
            row.update({k: v for k, v in trial.user_attrs.items() if k != "config_id"})
            params = self.folder.read_config(config_id)
            if params is not None:
                row.update({f"param_{k}": (json.dumps(v) if isinstance(v, dict) else v) for k, v in params.items()})
            rows.append(row)
        board = pd.DataFrame(rows)
        if board.empty:
            return board
        key = self.objective if self.objective in board else "config_id"
        return board.sort_values(key, ascending=False, na_position="last").reset_index(drop=True)

    def all_predictions(self) -> pd.DataFrame:
        frames = [self.config_predictions(config_id) for config_id in self.folder.config_ids_with_folds()]
        frames = [f for f in frames if not f.empty]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()

    def _progress(self) -> None:
        done = self.folder.count_folds()
        complete = [t for t in self.study.get_trials(deepcopy=False) if t.state == optuna.trial.TrialState.COMPLETE]
        best = max(complete, key=lambda t: t.value) if complete else None
        best_text = (
            f"best {self.objective.upper()} {best.value:.3f} ({best.user_attrs.get('config_id')})" if best else "best -"
        )
        if self.on_progress is not None:
            self.on_progress(done=done, total=self.folds_total, configs_done=len(complete),
                             configs_total=self.n_trials, best=best_text)
            return
        self.log(
            f"[folds {done}/{self.folds_total} | configs {len(complete)}/{self.n_trials} | {best_text} | "
            f"{timing_text(time.monotonic() - self.started, self.folds_done_now, self.folds_total - done)}]"
        )


def space_methods(space: SearchSpace, *, demo: bool | None = None) -> list[str]:
    """The methods a search space's configurations use, as far as they are known before any trial.

    The fixed settings name one; a ``"grid"`` space's every grid point and a ``"fixed"`` space's one configuration
    are also run through its ``suggest`` (:meth:`SearchSpace.configurations`). A TPE space that draws the method
    itself is checked configuration by configuration instead (``LosoSearch._resolve``).

    Args:
        space: the search space.
        demo: the demo variant (True), the real one (False) or both (None).
    """
    methods = set()
    for variant in ((False, True) if demo is None else (demo,)):
        configs = space.configurations(variant) or [space.params(variant)]
        methods.update(config.get("method", DEFAULT_METHOD) for config in configs)
    return sorted(methods)


def check_space_inputs(space: SearchSpace, features: FeatureSet, *, demo: bool | None = None) -> None:
    """Refuse, before any trial, a space whose methods need arrays that ``features`` lacks.

    Raises:
        mer_ray.data.features.FeaturesError: naming the method, what is missing and the preprocessing command
            that adds it.
    """
    for method in space_methods(space, demo=demo):
        check_inputs(method, features)


def predictions_frame(truth: pd.DataFrame, task: FoldTask, sample_ids: list[str], y_pred: list[int],
                      scores: list[list[float]], seconds: float) -> pd.DataFrame:
    """One row per predicted sample; the labels come from ``truth`` (the driver's copy), never from the trainer.

    AU detection (``truth`` has ``au_true``): ``y_true`` / ``y_pred`` / ``scores`` are lists of one value per AU
    (``y_pred`` -1 and ``scores`` NaN where the fold skipped the AU)."""
    rows = truth.loc[sample_ids]
    if not set(rows["subject"]) <= set(task.fold.held_out):
        raise ValueError(f"fold {task.config_id}/{task.fold.name} returned samples of subjects it did not hold out")
    if "au_true" in rows:
        return pd.DataFrame({
            "config_id": task.config_id,
            "dataset": rows["dataset"].to_numpy(),
            "subject": rows["subject"].to_numpy(),
            "fold": task.fold.name,
            "sample": sample_ids,
            "y_true": [list(map(int, t)) for t in rows["au_true"]],
            "y_pred": [list(map(int, p)) for p in y_pred],
            "scores": [list(map(float, s)) for s in scores],
            "seconds": seconds,
        })
    return pd.DataFrame(
        {
            "config_id": task.config_id,
            "dataset": rows["dataset"].to_numpy(),
            "subject": rows["subject"].to_numpy(),
            "fold": task.fold.name,
            "sample": sample_ids,
            "y_true": rows["label"].to_numpy(dtype=np.int64),
            "y_pred": np.asarray(y_pred, dtype=np.int64),
            "scores": [list(map(float, s)) for s in scores],
            "seconds": seconds,
        }
    )


def run_serial(search: FoldScheduler, *, device: str | None = None) -> None:
    """Run every fold in this process with a plain loop (no Ray): the reference the Tune layer is timed against."""
    while True:
        task = search.next_fold()
        if task is Schedule.DONE:
            return
        if task is Schedule.WAIT:  # cannot happen serially: every handed-out fold completes before the next call
            raise RuntimeError("serial search stalled with configurations still open")
        result = run_task(task, search.features, device)
        search.complete_fold(task, result.sample_ids, result.y_pred.tolist(), result.scores.tolist(), result.seconds,
                             result.details)
