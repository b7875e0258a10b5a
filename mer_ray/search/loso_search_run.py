"""The LOSO search of a run (LOSO folds, or one fold per held-out dataset): :func:`run_loso` runs the probe and
:class:`~mer_ray.search.scheduler.LosoSearch` on Ray Tune, writes the leaderboard, predictions and report, and
prints the tables (:func:`print_loso_results`); :func:`live_display` is its live terminal bar."""

from __future__ import annotations

import math
import time

from mer_ray.search.reference_probe import run_probe
from mer_ray.search.run_folder import RunFolder
from mer_ray.search.spec import RunSpec
from search_spaces.space import SearchSpace


def run_loso(folder: RunFolder, spec: RunSpec, space: SearchSpace, features, *, slots: int,
             max_failures: int = 2) -> int:
    """The probe, then the LOSO search on Ray Tune; writes the leaderboard, predictions and report, prints the
    tables. 0 when a configuration completed all its folds, else 1."""
    from mer_ray.evaluation.report import score_table, write_report
    from mer_ray.search.scheduler import LosoSearch
    from mer_ray.search.tune import run_tune

    start = time.monotonic()
    folds = spec.folds(features)  # LOSO, or one fold per held-out dataset
    probe_board, probe = run_probe(folder, spec, features, max_failures=max_failures)
    search = LosoSearch(folder, space, features, n_trials=spec.trials * spec.repeats, seed=spec.seed,
                        objective=spec.objective,
                        overrides=spec.overrides, use_demo_space=spec.demo_space,
                        max_open_configs=max(1, math.ceil(slots / len(folds))) + 1, folds=folds, au=spec.au_task())
    display = live_display(search)
    try:
        run_tune(search, cpus_per_trial=spec.cpus_per_trial, gpus_per_trial=spec.gpus_per_trial,
                 max_failures=max_failures)
    finally:
        if display is not None:
            display.close()
    board = search.leaderboard()
    board.to_csv(folder.leaderboard_csv, index=False)
    predictions = search.all_predictions()
    predictions.to_parquet(folder.predictions, index=False)
    if spec.task == "au":  # AU detection: its own report and tables (mer_ray/evaluation/au_report.py)
        from mer_ray.evaluation.au_report import print_au_results, write_au_report

        report = write_au_report(folder, board, predictions, spec, probe=probe)
        done = print_au_results(board, predictions, spec, probe)
        print(f"report: {report}  ({time.monotonic() - start:.0f} s)")
        return 0 if done else 1
    report = write_report(folder, board, predictions, spec, probe_board=probe_board, probe=probe)
    table = score_table(board)
    if not table.empty:  # the best configuration's training curves (mean and spread over folds)
        from mer_ray.evaluation.curves import report_section

        report.write_text(report.read_text() + report_section(folder, str(table.iloc[0]["config"])))
    print_loso_results(table, board, predictions, spec, probe)
    print(f"report: {report}  ({time.monotonic() - start:.0f} s)")
    return 0 if not table.empty else 1


def print_loso_results(table, board, predictions, spec: RunSpec, probe) -> None:
    """The score table, the leaderboard against the reference, and the best configuration against the probe."""
    from mer_ray.evaluation.report import compare_with_probe, format_table, leaderboard

    print()
    print(format_table(table) if not table.empty else "no configuration completed all its folds")
    if table.empty:
        return
    if spec.reference:
        table3 = leaderboard(board, predictions, spec.reference, seed=spec.seed)
        print(f"\nleaderboard (paired 95% intervals against {spec.reference}):")
        print(format_table(table3))
    if spec.repeats > 1:
        from mer_ray.evaluation.report import repeats_summary

        summary = repeats_summary(board, predictions, probe, seed=spec.seed)
        print(f"\n{spec.repeats} repeats of one configuration (other seeds): {summary.sentence()}")
        return
    best = table.iloc[0]
    note = " (optimistic: picked by the search over the same folds)" if spec.trials > 1 else ""
    print(f"\nbest configuration {best['config']}: UAR {best['UAR']:.4f}, UF1 {best['UF1']:.4f}{note}")
    print(f"  {best['description']}")
    if probe is not None:
        mine = predictions[predictions["config_id"] == best["config"]]
        print("  " + compare_with_probe(mine, probe, seed=spec.seed).sentence(f"{best['config']}"))


def live_display(search):
    """In a terminal with the quiet console on: a live bar replaces the per-fold lines (None otherwise)."""
    from mer_ray.infra.console import active, interactive

    if active() is None or not interactive():
        return None
    from mer_ray.search.display import FoldDisplay

    display = FoldDisplay(search.folds_total, initial=search.folder.count_folds())
    search.on_progress = display
    search.on_fold_epoch = display.fold_epoch  # the epochs of the folds running now (Tune intermediate results)
    search.log = display.write
    return display
