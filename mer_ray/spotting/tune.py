"""Spotting folds on Ray Tune: one trial per held-out subject (the spotting counterpart of
``mer_ray/search/tune.py``, whose trainable runs recognition folds).

Every video's motion summary and the annotations are put in Ray's object store once; a trial ``ray.get``\\ s them,
DROPS the held-out subject's annotations before anything else (the fold cannot see them), runs the spotter's fold
function (``methods.SPOTTERS``) and reports the outcome as one JSON string. A driver-side callback hands each
finished fold to ``on_fold`` (which writes its fold file: what ``--resume`` builds on) as it arrives.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any

import ray
from ray import tune
from ray.tune import Callback


def spot_trainable(config: dict[str, Any], data_ref: list) -> None:
    """Tune trainable: one held-out subject's fold of spotter ``config["search"]``."""
    from threadpoolctl import threadpool_limits

    from mer_ray.spotting.methods import SPOTTERS

    data = ray.get(data_ref[0])
    held_out = config["subject"]
    subject_of = data["subject_of"]
    truth = {k: v for k, v in data["truth"].items() if subject_of.get(k) != held_out}  # held-out labels: gone
    with threadpool_limits(limits=max(1, int(config.get("threads", 1)))):
        outcome = SPOTTERS[config["search"]](data["summaries"], truth, subject_of, held_out, data["fps"],
                                             seed=int(config.get("seed", 0)))
    tune.report({"fold_done": 1, "outcome": json.dumps(outcome.to_dict()), "pid": os.getpid(),
                 "node_ip": ray.util.get_node_ip_address()})


class _FoldCallback(Callback):
    def __init__(self, on_fold: Callable[[dict], None], on_error: Callable[[str, str], None]):
        self.on_fold = on_fold
        self.on_error = on_error
        self.done: set[str] = set()

    def on_trial_result(self, iteration, trials, trial, result, **info):
        if "outcome" in result and trial.trial_id not in self.done:
            self.done.add(trial.trial_id)
            self.on_fold(json.loads(result["outcome"]))

    def on_trial_error(self, iteration, trials, trial, **info):
        self.on_error(trial.config.get("subject", "?"), f"trial {trial.trial_id} failed (see its error.txt in "
                                                        f"{trial.local_path})")


def run_spot_folds(data: dict, subjects: list[str], *, search: str, seed: int, storage: str,
                   on_fold: Callable[[dict], None], on_error: Callable[[str, str], None],
                   cpus_per_trial: float = 1.0, max_failures: int = 2) -> None:
    """Run the folds of ``subjects`` (held-out subjects) as Ray Tune trials on the connected cluster.

    Args:
        data: ``{"summaries", "truth", "subject_of", "fps"}`` (put in the object store once).
        subjects: the held-out subjects still to run.
        search: the spotter's name (``methods.SPOTTERS``).
        storage: Ray Tune's storage path (``RUN/tune``).
        on_fold: called on the driver with each finished fold's outcome dict.
        on_error: called with (subject, message) for a trial that failed after its retries.
    """
    if not subjects:
        return
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    data_ref = ray.put(data)
    trainable = tune.with_resources(tune.with_parameters(spot_trainable, data_ref=[data_ref]),
                                    {"cpu": cpus_per_trial})
    tuner = tune.Tuner(
        trainable,
        param_space={"subject": tune.grid_search(sorted(subjects)), "search": search, "seed": seed,
                     "threads": max(1, int(cpus_per_trial))},
        tune_config=tune.TuneConfig(reuse_actors=True,
                                    trial_dirname_creator=lambda t: f"{t.config['subject']}-{t.trial_id}"),
        run_config=tune.RunConfig(name=f"spot-{os.getpid()}", storage_path=storage,
                                  failure_config=tune.FailureConfig(max_failures=max_failures),
                                  callbacks=[_FoldCallback(on_fold, on_error)], verbose=0, log_to_file=True),
    )
    tuner.fit()
