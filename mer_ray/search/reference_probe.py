"""The linear probe every report shows beside the searched models: :func:`run_probe`, on the run's own folds."""

from __future__ import annotations

from mer_ray.search.run_folder import RunFolder
from mer_ray.search.spec import RunSpec
from search_spaces import get_space

PROBE_SPACE = "probe"  # the reference every LOSO report shows


def run_probe(folder: RunFolder, spec: RunSpec, features, *, max_failures: int = 2):
    """The linear probe on the run's own folds (``spec.folds``: LOSO or one per held-out dataset;
    ``RUN/reference/probe``): ``(leaderboard, predictions)``.

    Every report shows it beside the searched models; skipped (``(None, None)``) when the run is the probe itself.
    """
    if spec.space == PROBE_SPACE:
        return None, None
    from mer_ray.search.scheduler import LosoSearch
    from mer_ray.search.tune import run_tune

    print(f"linear probe (reference) on the same {'LOSO' if spec.protocol == 'loso' else 'dataset'} folds...",
          flush=True)
    probe = LosoSearch(folder.reference(PROBE_SPACE), get_space(PROBE_SPACE), features, n_trials=1, seed=spec.seed,
                       objective=spec.objective, folds=spec.folds(features), log=lambda _: None, au=spec.au_task())
    run_tune(probe, cpus_per_trial=spec.cpus_per_trial, gpus_per_trial=0.0, max_failures=max_failures)
    board, predictions = probe.leaderboard(), probe.all_predictions()
    first = "f1_macro" if spec.task == "au" else "uar"
    if predictions.empty or first not in board:
        print("linear probe: no complete result (see RUN/reference/probe)", flush=True)
        return None, None
    if spec.task == "au":
        print(f"linear probe: mean F1 over {len(spec.aus or [])} AUs: macro {board.iloc[0]['f1_macro']:.4f}, "
              f"binary {board.iloc[0]['f1_binary']:.4f}", flush=True)
        return board, predictions
    print(f"linear probe: UAR {board.iloc[0]['uar']:.4f}, UF1 {board.iloc[0]['uf1']:.4f}", flush=True)
    return board, predictions
