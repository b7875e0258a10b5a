"""The Ray Tune layer (the only module that imports ``ray.tune``): one Tune trial per (configuration, subject).

A custom ``Searcher`` hands Tune the folds of the configurations Optuna suggests (``LosoSearch``); each trial
trains one fold with :func:`mer_ray.training.trainer.train_fold` and reports that subject's predictions; the driver
persists
them and, once a configuration's folds are all in, tells Optuna the pooled objective. The feature arrays are put in
Ray's object store ONCE and every trial maps them read-only (zero-copy), however many trials run at once.

Trials read no file and write nothing the run needs (except the optional saved-pretraining folder): predictions come
back in the Tune result, so the run folder and the features folder need only be on the driver's storage.
``RUN/trials.csv`` records where each fold ran.
"""

from __future__ import annotations

import csv
import json
import os
import traceback
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import ray
from ray import tune
from ray.tune.search import Searcher

from mer_ray.evaluation.folds import FoldTask, subject_filename
from mer_ray.infra.interrupts import critical
from mer_ray.methods import parse_config, run_task
from mer_ray.search.scheduler import FoldScheduler, Schedule

TRIAL_COLUMNS = ("config_id", "subject", "trial_id", "node_id", "node_ip", "pid", "fold_seconds", "finished")
_USER_PENDING = os.environ.get("TUNE_MAX_PENDING_TRIALS_PG")  # a value set before import is the user's: kept


def fold_trainable(config: dict[str, Any], features_ref: list) -> None:
    """Tune trainable: one fold. ``features_ref`` is a one-element list holding the ObjectRef of the features."""
    import torch
    from threadpoolctl import threadpool_limits

    task = FoldTask.from_dict(config["fold"], parse_config)
    threads = max(1, int(config.get("threads", 1)))
    torch.set_num_threads(threads)
    features = ray.get(features_ref[0])  # zero-copy: numpy arrays map the object store's shared memory
    device = "cuda" if config.get("gpus", 0) > 0 and torch.cuda.is_available() else "cpu"
    # numpy / sklearn BLAS too keep to the trial's CPUs: OpenBLAS's own threads, two trials on two cores, made
    # a 330 x 330 eigendecomposition 20x slower here
    def on_epoch(phase: str, epoch: int, values: dict[str, float]) -> None:
        # an intermediate result: training-subject losses / inner UAR only, never held-out labels or scores
        # (TensorBoard: RUN/tune/folds-*/<trial>/events.out.tfevents.*; the driver: RUN/curves.csv)
        tune.report({"fold_done": 0, "phase": phase, "epoch": epoch,
                     **{f"{phase}_{name}": float(value) for name, value in values.items()}})

    with threadpool_limits(limits=threads):
        result = run_task(task, features, device, on_epoch=on_epoch)
    predictions = {"sample_ids": result.sample_ids, "y_pred": result.y_pred.tolist(), "scores": result.scores.tolist(),
                   "details": result.details}
    tune.report(
        {
            "fold_done": 1,
            # one string: Tune's loggers skip it instead of warning
            "predictions": json.dumps(predictions, default=_plain),
            "fold_seconds": result.seconds,
            "node_ip": ray.util.get_node_ip_address(),
            "node_id": ray.get_runtime_context().get_node_id(),
            "pid": os.getpid(),
        }
    )


def _plain(value: Any) -> Any:
    """JSON for the numpy values a fold's ``details`` may hold."""
    import numpy as np

    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


class FoldSearcher(Searcher):
    """Feeds Tune the folds of a :class:`FoldScheduler` and returns finished folds to it."""

    def __init__(self, search: FoldScheduler, *, threads: int, gpus: float):
        super().__init__(metric="fold_done", mode="max")
        self.search = search
        self.threads = threads
        self.gpus = gpus
        self.running: dict[str, FoldTask] = {}
        self.trial_nodes: list[dict[str, Any]] = []

    def set_search_properties(self, metric, mode, config, **spec) -> bool:
        return True

    def suggest(self, trial_id: str):
        task = self.search.next_fold()
        if task is Schedule.WAIT:
            return None  # Tune asks again later
        if task is Schedule.DONE:
            return Searcher.FINISHED
        self.running[trial_id] = task
        return {"fold": task.to_dict(), "threads": self.threads, "gpus": self.gpus}

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        """An intermediate result (one epoch of a fold): appended to ``RUN/curves.csv``."""
        task = self.running.get(trial_id)
        if task is None or "phase" not in result:
            return
        phase = result["phase"]
        rows = [{"config_id": task.config_id, "subject": task.fold.name, "phase": phase, "epoch": result["epoch"],
                 "metric": key.removeprefix(f"{phase}_"), "value": value}
                for key, value in result.items() if key.startswith(f"{phase}_") and isinstance(value, int | float)]
        with critical():
            append_rows(self.search.folder.file(CURVES), rows, CURVE_COLUMNS)
        watcher = self.search.on_fold_epoch  # the live display, when there is one
        if watcher is not None:
            watcher(task, phase, int(result["epoch"]), {row["metric"]: row["value"] for row in rows})

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        with critical():  # a Ctrl-C here waits until the fold and its bookkeeping are written
            self._complete(trial_id, result, error)

    def _complete(self, trial_id: str, result: dict | None, error: bool) -> None:
        task = self.running.pop(trial_id, None)
        if task is None:
            return
        watcher = self.search.on_fold_epoch
        if watcher is not None:
            watcher(task, None, 0, {})  # the fold is no longer running
        if error or not result or "predictions" not in result:
            self.search.fail_fold(task, "trial failed after its retries (see the Tune trial's error.txt)")
            return
        record = {"config_id": task.config_id, "subject": task.fold.name, "trial_id": trial_id,
                  "node_id": result.get("node_id"), "node_ip": result.get("node_ip"), "pid": result.get("pid"),
                  "fold_seconds": result.get("fold_seconds", float("nan")),
                  "finished": datetime.now(UTC).isoformat(timespec="seconds")}
        self.trial_nodes.append(record)
        # before the fold file: a driver killed in between leaves a row too many (the fold reruns), never one short
        append_trial_record(self.search.folder.trials_csv, record)
        predictions = json.loads(result["predictions"])
        self.search.complete_fold(task, predictions["sample_ids"], predictions["y_pred"], predictions["scores"],
                                  record["fold_seconds"], predictions.get("details") or None)

    # All state lives in the run folder (Optuna SQLite + fold files); Tune's own searcher checkpoint is unused,
    # and the bookkeeping object (which holds the feature arrays) must not be pickled into Tune's experiment state.
    def save(self, checkpoint_path: str) -> None:
        return None

    def restore(self, checkpoint_path: str) -> None:
        return None

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "search"}


def append_trial_record(path: Path, record: dict[str, Any]) -> None:
    """Append one completed trial to ``RUN/trials.csv`` (header written with the first row)."""
    append_rows(path, [record], TRIAL_COLUMNS)


CURVES = "curves.csv"  # per-epoch training curves of every fold (a rerun fold appends again: last rows win)
CURVE_COLUMNS = ("config_id", "subject", "phase", "epoch", "metric", "value")


def append_rows(path: Path, rows: list[dict[str, Any]], columns: tuple[str, ...]) -> None:
    """Append ``rows`` to the CSV ``path`` (header written with the first row)."""
    if not rows:
        return
    new_file = not path.is_file()
    with open(path, "a", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns, extrasaction="ignore")
        if new_file:
            writer.writeheader()
        writer.writerows(rows)


def run_tune(
    search: FoldScheduler,
    *,
    cpus_per_trial: float = 1.0,
    gpus_per_trial: float = 0.0,
    max_failures: int = 2,
    reuse_actors: bool = True,
) -> list[dict[str, Any]]:
    """Run every outstanding fold of ``search`` as Ray Tune trials on the connected Ray cluster.

    Args:
        search: the bookkeeping object (configurations, folds, pooling).
        cpus_per_trial: CPUs reserved per trial (also torch's thread count).
        gpus_per_trial: GPUs per trial; 0.25 lets four trials share one GPU.
        max_failures: retries of a failed trial (a crashed worker, a killed node) before its fold counts as failed.
        reuse_actors: run successive trials in the same worker process (a fresh process per fold costs seconds
            of start-up and cold torch kernels, as much as a demo fold's training; see benchmarks/tune_overhead.py).

    Returns:
        For every completed trial: config_id, subject, trial_id and the node / process that ran it (also appended
        to ``RUN/trials.csv``).
    """
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")  # our own progress lines replace Tune's tables
    # Tune keeps ONE trial pending for a custom searcher: a fold shorter than a new actor's start-up then finishes
    # before a second actor comes up, and every fold runs in the same process, one at a time (a 1-2 s hand-crafted
    # baseline fold: half the cluster idle). Let as many be pending as can run now (a user's setting wins).
    if _USER_PENDING is None:
        os.environ["TUNE_MAX_PENDING_TRIALS_PG"] = str(trial_slots(cpus_per_trial, gpus_per_trial))
    features_ref = ray.put(search.features)  # once, however many trials run
    trainable = tune.with_resources(
        tune.with_parameters(fold_trainable, features_ref=[features_ref]),
        {"cpu": cpus_per_trial, "gpu": gpus_per_trial},
    )
    searcher = FoldSearcher(search, threads=max(1, int(cpus_per_trial)), gpus=gpus_per_trial)
    storage = search.folder.tune_dir
    tuner = tune.Tuner(
        trainable,
        tune_config=tune.TuneConfig(
            search_alg=searcher,
            num_samples=search.folds_total + 1,  # an upper bound: the searcher says FINISHED when done
            reuse_actors=reuse_actors,
            trial_dirname_creator=lambda trial: _trial_dirname(trial),
        ),
        run_config=tune.RunConfig(
            name=f"folds-{os.getpid()}",
            storage_path=str(storage),
            failure_config=tune.FailureConfig(max_failures=max_failures),
            verbose=0,
            log_to_file=True,
        ),
    )
    try:
        tuner.fit()
    except Exception:  # the run folder holds every finished fold; --resume continues from there
        search.log("Ray Tune stopped with an error; finished folds are saved, re-run with --resume:\n"
                   + traceback.format_exc(limit=3))
        raise
    return searcher.trial_nodes


def trial_slots(cpus_per_trial: float, gpus_per_trial: float) -> int:
    """Trials the connected cluster can run at once now (at least 1)."""
    resources = ray.cluster_resources()
    by_cpu = int(resources.get("CPU", 1) // max(cpus_per_trial, 1e-9)) if cpus_per_trial else 10**6
    by_gpu = int(resources.get("GPU", 0) // gpus_per_trial) if gpus_per_trial else 10**6
    return max(1, min(by_cpu, by_gpu))


def _trial_dirname(trial) -> str:
    fold = trial.config.get("fold", {})
    name = fold.get("fold") or trial.trial_id
    return f"{fold.get('config_id', 'c')}-{subject_filename(name)}-{trial.trial_id}"
