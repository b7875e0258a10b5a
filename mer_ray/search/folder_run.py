"""One run inside its run folder: :func:`run_in_folder` writes ``run.json``, starts the logs, prints the plan and
runs the LOSO search (:mod:`~mer_ray.search.loso_search_run`) or the nested one
(:mod:`~mer_ray.search.nested_search_run`)."""

from __future__ import annotations

from mer_ray.search.loso_search_run import run_loso
from mer_ray.search.nested_search_run import run_nested
from mer_ray.search.run_folder import RunFolder
from mer_ray.search.run_logs import log_to_run_folder
from mer_ray.search.spec import RunSpec
from search_spaces.space import SearchSpace


def run_in_folder(folder: RunFolder, spec: RunSpec, space: SearchSpace, features, *, max_failures: int = 2) -> int:
    """Run ``spec`` in ``folder`` (whose lock the caller holds): ``run.json``, the logs, the plan, then the LOSO or
    nested search; the exit status of :func:`run_loso` / :func:`run_nested`."""
    from mer_ray.search.tune import trial_slots

    spec.to_json(folder.run_json)
    log_to_run_folder(folder)
    slots = trial_slots(spec.cpus_per_trial, spec.gpus_per_trial)
    print(f"run folder: {folder.root}")
    print(f"search '{spec.space}': {space.description}")
    if spec.demo_space:
        print(f"demo data: using the space's CPU-sized demo variant ({space.demo_changes()}; its demo search, "
              f"{space.default_trials(demo=True)} configurations)")
    if spec.nested:
        print(f"nested: {len(features.subjects)} outer folds x ({spec.trials} configurations x {spec.inner_folds} "
              f"inner folds + 1 final fit) ({len(features)} clips); {slots} trials at a time", flush=True)
        return run_nested(folder, spec, space, features, max_failures=max_failures)
    folds = spec.folds(features)
    print(f"protocol: {spec.describe_protocol()}")
    if spec.task == "au":
        print(f"task: AU detection, {len(spec.aus or [])} AUs ({', '.join(f'AU{a}' for a in spec.aus or [])}); an AU "
              f"with fewer than {spec.au_min_positives} positive training clips in a fold is skipped there")
    what = f"1 configuration x {spec.repeats} repeats (seeds)" if spec.repeats > 1 else f"{spec.trials} configurations"
    print(f"{what} x {len(folds)} folds ({len(features)} clips, datasets "
          f"{', '.join(features.datasets)}); {slots} trials at a time", flush=True)
    return run_loso(folder, spec, space, features, slots=slots, max_failures=max_failures)
