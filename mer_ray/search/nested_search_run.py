"""The nested search of a run: :func:`run_nested` runs the probe and
:class:`~mer_ray.search.nested.NestedLosoSearch` on Ray Tune, writes the predictions and report, and prints the
unbiased score."""

from __future__ import annotations

import time

from mer_ray.search.reference_probe import run_probe
from mer_ray.search.run_folder import RunFolder
from mer_ray.search.spec import RunSpec
from search_spaces.space import SearchSpace


def run_nested(folder: RunFolder, spec: RunSpec, space: SearchSpace, features, *, max_failures: int = 2) -> int:
    """The probe, then the nested search; writes the predictions and report, prints the unbiased score. 0 when
    every outer fold has a prediction, else 1."""
    from mer_ray.evaluation.report import write_nested_report
    from mer_ray.search.nested import NestedLosoSearch
    from mer_ray.search.tune import run_tune

    start = time.monotonic()
    _, probe = run_probe(folder, spec, features, max_failures=max_failures)
    search = NestedLosoSearch(folder, space, features, n_trials=spec.trials, inner_k=spec.inner_folds,
                              seed=spec.seed, objective=spec.objective, overrides=spec.overrides,
                              use_demo_space=spec.demo_space)
    run_tune(search, cpus_per_trial=spec.cpus_per_trial, gpus_per_trial=spec.gpus_per_trial,
             max_failures=max_failures)
    summary = search.summary()
    predictions = search.outer_predictions()
    predictions.to_parquet(folder.predictions, index=False)
    report = write_nested_report(folder, search, spec, probe=probe)
    if not summary["complete"]:
        print("nested run incomplete: some outer folds have no prediction (see report)")
        return 1
    scores = summary["scores"]
    slices = " | ".join(f"{d}: UAR {scores[f'uar_{d}']:.4f} UF1 {scores[f'uf1_{d}']:.4f}" for d in features.datasets)
    print("\nnested LOSO (unbiased: every outer fold chose its configuration on its training subjects only):")
    print(f"  composite UAR {scores['uar']:.4f}, UF1 {scores['uf1']:.4f}, accuracy {scores['accuracy']:.4f}")
    print(f"  {slices}")
    if probe is not None:
        from mer_ray.evaluation.report import compare_with_probe

        print("  " + compare_with_probe(predictions, probe, seed=spec.seed).sentence("the nested procedure"))
    print(f"report: {report}  ({time.monotonic() - start:.0f} s)")
    return 0
