"""Ray Tune overhead: the same LOSO folds through Ray Tune vs a plain loop over ``train_fold``, in one run.

    python benchmarks/tune_overhead.py                  # every fold of the demo features, one configuration
    python benchmarks/tune_overhead.py --subjects 6     # the first 6 subjects only (6 folds, smaller training sets)
    python benchmarks/tune_overhead.py --quick          # 4 subjects, 1 epoch, no pretraining: a smoke run
    python benchmarks/tune_overhead.py --features DIR   # a features folder of `python -m preprocessing run`

One configuration (the first of a seeded ``LosoSearch`` over ``--space`` with its demo variant), all its folds:

(a) ``run_serial``: a plain loop over ``train_fold`` in this process, torch on 1 thread (as in every trial).
(b) ``run_tune`` with cpus_per_trial=1 on a local Ray cluster with ONE CPU: one trial at a time, the same
    compute as (a). Tune's overhead = (b) / (a) - 1 (goal: at most 10% at demo scale); ``ray.init`` separate.
(c) ``run_tune`` on all CPUs: as many trials at a time as CPUs; speed-up vs (a).
(d) experiment (skip with ``--no-reuse-experiment``): (b) again with ``run_tune(reuse_actors=False)``: a fresh
    trial process per fold instead of reused ones (``run_tune``'s default), which shows how much of the overhead
    per-trial process start-up would cost.

All three use the same fold seeds, so they must give identical predictions and pooled metrics: checked and
printed. Memory: during (c) every trial process's USS / PSS and its mapping of Ray's object store are sampled
(``/proc/PID/smaps`` every second). The feature arrays are put in the object store once; a trial that maps them
zero-copy shows them as SHARED resident pages of ``/dev/shm/plasma*`` (private part ~0), a trial holding its own
copy would show them in its private memory (USS) instead.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    MIB,
    Shape,
    SmapsSampler,
    array_bytes,
    cpu_count,
    fmt_s,
    machine_line,
    print_table,
    ray_role,
    synthetic_features,
)

from mer_ray.infra.runtime import init_ray  # noqa: E402

GOAL = 0.10  # Tune's overhead over the plain loop at demo scale, same compute
QUICK_OVERRIDES = {"epochs": 1, "pretrain": False}


@dataclass
class Variant:
    label: str
    seconds: float
    init_seconds: float
    predictions: pd.DataFrame
    trial_pids: int = 0

    @property
    def fold_seconds(self) -> float:
        """Sum of ``train_fold``'s own time over the folds (training only, no scheduling)."""
        return float(self.predictions.groupby("subject")["seconds"].first().sum())


def load_data(args):
    """The feature set (demo features by default, built once into the cache) and a line saying what it is."""
    from mer_ray.data.features import load_features

    if args.synthetic:
        subjects = args.subjects or 16
        data = synthetic_features(Shape(subjects=subjects, clips=7 * subjects, size=args.synthetic_size), seed=0)
        return data, f"SYNTHETIC random arrays ({len(data)} clips, {subjects} subjects, {args.synthetic_size} px)"
    path = args.features
    if path is None:
        from preprocessing.features.prepare import build_features, default_features_dir, select_samples
        from preprocessing.vision.clip import PreprocessConfig

        selection = select_samples(None)
        path = default_features_dir(selection, PreprocessConfig(), False)
        if not (path / "manifest.json").is_file():
            import ray

            print(f"building the demo features once into {path} (cached for later runs) ...", flush=True)
            init_ray(num_cpus=cpu_count(), progress_bars=False, fresh=True)
            start = time.perf_counter()
            build_features(selection, None)
            print(f"  preprocessing took {fmt_s(time.perf_counter() - start)} (not part of the comparison)")
            ray.shutdown()
    everything = load_features(path)
    subjects = everything.subjects[: args.subjects] if args.subjects else None
    data = load_features(path, subjects=subjects) if subjects else everything
    return data, f"features {path} ({len(data)} clips, {len(data.subjects)} subjects, {data.size} px)"


def make_search(run_dir: Path, data, args):
    from mer_ray.search.scheduler import LosoSearch
    from search_spaces import get_space

    overrides = dict(QUICK_OVERRIDES) if args.quick else {}
    return LosoSearch(run_dir, get_space(args.space), data, n_trials=1, seed=args.seed, overrides=overrides,
                      use_demo_space=True, log=print if args.verbose else (lambda message: None))


def run_serial_variant(data, args, tmp: Path) -> Variant:
    import torch

    from mer_ray.search.scheduler import run_serial

    search = make_search(tmp / "serial", data, args)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # what every Tune trial uses with cpus_per_trial=1
    try:
        start = time.perf_counter()
        run_serial(search, device="cpu")
        seconds = time.perf_counter() - start
    finally:
        torch.set_num_threads(threads)
    return Variant("(a) plain loop over train_fold, 1 torch thread", seconds, 0.0, search.all_predictions())


def run_tune_variant(data, args, tmp: Path, cpus: int, label: str,
                     sampler: SmapsSampler | None = None, reuse_actors: bool = True) -> Variant:
    import ray

    from mer_ray.search.tune import run_tune

    search = make_search(tmp / f"tune-{cpus}cpu{'' if reuse_actors else '-fresh'}", data, args)
    init = init_ray(num_cpus=cpus, progress_bars=False, fresh=True)
    try:
        start = time.perf_counter()
        if sampler is None:
            nodes = run_tune(search, cpus_per_trial=1, reuse_actors=reuse_actors)
        else:
            with sampler:
                nodes = run_tune(search, cpus_per_trial=1, reuse_actors=reuse_actors)
        seconds = time.perf_counter() - start
    finally:
        ray.shutdown()
    return Variant(label, seconds, init, search.all_predictions(), trial_pids=len({n["pid"] for n in nodes}))


def compare(reference: pd.DataFrame, other: pd.DataFrame) -> tuple[bool, float]:
    """(same predicted labels for every clip, largest absolute score difference)."""
    a = reference.set_index("sample").sort_index()
    b = other.set_index("sample").sort_index()
    if list(a.index) != list(b.index):
        return False, float("inf")
    same = bool((a["y_pred"].to_numpy() == b["y_pred"].to_numpy()).all())
    diff = np.abs(np.stack(a["scores"].map(np.asarray)) - np.stack(b["scores"].map(np.asarray))).max()
    return same, float(diff)


def is_trial(proc) -> bool:
    """A Tune trial process (function trainables run in ``ray::ImplicitFunc`` actors)."""
    return ray_role(proc) == "worker" and "ImplicitFunc" in proc.name()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="4 subjects, 1 epoch, no pretraining (a smoke run, not a figure)")
    parser.add_argument("--subjects", type=int, default=0, help="only the first N subjects (N folds)")
    parser.add_argument("--features", type=Path, default=None, help="features folder (default: the demo's)")
    parser.add_argument("--synthetic", action="store_true",
                        help="random arrays of the demo's shape instead of features (clearly labelled)")
    parser.add_argument("--synthetic-size", type=int, default=224, help="face size of --synthetic arrays")
    parser.add_argument("--space", default="vit", help="search space whose demo variant gives the configuration")
    parser.add_argument("--seed", type=int, default=0, help="search seed (configuration and fold seeds)")
    parser.add_argument("--cpus", type=int, default=0, help="CPUs of variant (c) (default: all)")
    parser.add_argument("--verbose", action="store_true", help="print the search's progress lines")
    parser.add_argument("--no-reuse-experiment", action="store_true",
                        help="skip variant (d) (a fresh process per trial)")
    args = parser.parse_args(argv)
    if args.quick and not args.subjects:
        args.subjects = 4
    if args.subjects and args.subjects < 2:
        parser.error("--subjects must be at least 2 (LOSO needs a training subject)")
    cpus = args.cpus or cpu_count()

    data, what = load_data(args)
    size_mib = array_bytes(data) / MIB
    print(f"{what}; feature arrays {size_mib:.0f} MiB; {machine_line()}")

    with tempfile.TemporaryDirectory(prefix="tune-overhead-") as tmp_name:
        tmp = Path(tmp_name)
        serial = run_serial_variant(data, args, tmp)
        config = (tmp / "serial" / "configs" / "c000.json").read_text()
        print(f"configuration ({args.space}, demo variant, seed {args.seed}"
              f"{', quick overrides ' + str(QUICK_OVERRIDES) if args.quick else ''}): {' '.join(config.split())}")
        print(f"  {serial.label}: {serial.seconds:.1f} s", flush=True)
        one = run_tune_variant(data, args, tmp, 1, "(b) Ray Tune, 1-CPU cluster, 1 trial at a time")
        print(f"  {one.label}: {one.seconds:.1f} s (+ ray.init {one.init_seconds:.1f} s)", flush=True)
        sampler = SmapsSampler(is_trial, interval=1.0)
        full = run_tune_variant(data, args, tmp, cpus, f"(c) Ray Tune, {cpus}-CPU cluster, {cpus} trials at a time",
                                sampler)
        print(f"  {full.label}: {full.seconds:.1f} s (+ ray.init {full.init_seconds:.1f} s)", flush=True)
        variants = [serial, one, full]
        if not args.no_reuse_experiment:
            reuse = run_tune_variant(data, args, tmp, 1, "(d) experiment: (b) with a fresh process per trial",
                                     reuse_actors=False)
            print(f"  {reuse.label}: {reuse.seconds:.1f} s (+ ray.init {reuse.init_seconds:.1f} s)", flush=True)
            variants.append(reuse)

    folds = len(data.subjects)
    rows = []
    for v in variants:
        rows.append([v.label, f"{v.seconds:.1f}", f"{v.init_seconds:.1f}", f"{v.fold_seconds:.1f}",
                     f"{v.seconds - v.fold_seconds:+.1f}", f"{v.seconds / serial.seconds:.3f}",
                     f"{serial.seconds / v.seconds:.2f}", f"{serial.seconds / (v.seconds + v.init_seconds):.2f}"])
    print_table(["variant", "wall s", "ray.init s", "sum of fold s", "wall - folds s", "x (a) time",
                 "speed-up vs (a)", "speed-up incl. init"], rows,
                f"{folds} LOSO folds of one configuration: plain loop vs Ray Tune (same folds, same seeds, one run)")
    overhead = one.seconds / serial.seconds - 1
    overhead_init = (one.seconds + one.init_seconds) / serial.seconds - 1
    print(f"- Tune overhead (b)/(a) - 1 = {overhead:+.1%} (ray.init included: {overhead_init:+.1%}); goal <= "
          f"{GOAL:.0%} -> {'met' if overhead <= GOAL else 'MISSED'}")
    print(f"- per fold: (a) {serial.seconds / folds:.1f} s, (b) {one.seconds / folds:.1f} s: Tune adds "
          f"{(one.seconds - serial.seconds) / folds:+.2f} s per trial (trial process start, imports, reporting)")
    print(f"- (c) {cpus} trials at a time: {serial.seconds / full.seconds:.2f}x the plain loop "
          f"({serial.seconds / full.seconds / cpus:.0%} parallel efficiency); {full.trial_pids} trial processes")
    if len(variants) > 3:
        reuse = variants[3]
        print(f"- (d) without actor reuse: overhead {reuse.seconds / serial.seconds - 1:+.1%} over (a) in "
              f"{reuse.trial_pids} trial process(es), vs {overhead:+.1%} in {one.trial_pids} processes for (b)")

    from mer_ray.evaluation.metrics import score_predictions

    metric_rows = []
    for v in variants:
        same, diff = compare(serial.predictions, v.predictions)
        scores = score_predictions(v.predictions)
        metric_rows.append([v.label[:3], f"{scores['uar']:.4f}", f"{scores['uf1']:.4f}", "yes" if same else "NO",
                            f"{diff:.2e}"])
    print_table(["variant", "pooled UAR", "pooled UF1", "same predictions as (a)", "max |score - (a)|"],
                metric_rows, "identical results (same fold seeds)")

    trials = sorted(sampler.peaks.values(), key=lambda p: p.pid)
    if trials:
        uss = [p.uss for p in trials]
        print_table(
            ["trial pid", "peak USS MiB", "peak PSS MiB", "peak shared MiB", "object store mapped MiB",
             "of which private MiB"],
            [[p.pid, f"{p.uss:.0f}", f"{p.pss:.0f}", f"{p.shared:.0f}", f"{p.plasma_rss:.0f}",
              f"{p.plasma_private:.0f}"] for p in trials],
            f"memory of the {len(trials)} trial processes during (c) (smaps every 1 s, {sampler.samples} samples)")
        mapped = max(p.plasma_rss for p in trials)
        private = max(p.plasma_private for p in trials)
        print(f"- feature arrays: {size_mib:.0f} MiB; at most {sampler.max_alive} trial processes alive at once")
        print(f"- each trial maps up to {mapped:.0f} MiB of the object store, of which at most {private:.0f} MiB "
              f"private: the arrays are read from the ONE shared copy, not copied into the trial")
        print(f"- trial USS (private memory: torch, model, batches) median {np.median(uss):.0f} MiB, max "
              f"{max(uss):.0f} MiB; a trial copying the arrays would add {size_mib:.0f} MiB of USS each")
        print(f"- object store: peak {sampler.store_mib:.0f} MiB allocated (its /dev/shm file's pages, read from "
              f"/proc: this Ray build has no object-store usage API without the dashboard / grpc); one copy of the "
              f"arrays is {size_mib:.0f} MiB, one per running trial would be {size_mib * cpus:.0f} MiB")
    else:
        print("- no trial process was sampled (every trial ended within one sampling interval)")
    print(f"\nload average at end: {machine_line()}")


if __name__ == "__main__":
    main()
