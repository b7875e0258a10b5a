"""Memory under load: peak memory per trial and in total while a LOSO runs several Ray Tune trials at once.

    python benchmarks/memory_load.py                       # 68-fold LOSO at composite scale, 4 trials at once
    python benchmarks/memory_load.py --demo                # the built-in demo features: checks the 6 GiB goal
    python benchmarks/memory_load.py --folds 8 --trials 2  # the first 8 held-out subjects, 2 trials at a time
    python benchmarks/memory_load.py --quick               # a tiny synthetic set, 1 epoch: a smoke run, not a figure
    python benchmarks/memory_load.py --features DIR --trials 1 --folds 12  # an existing features folder
    python benchmarks/memory_load.py --out memory.json     # also write the figures as JSON

Data: random arrays of the composite's shapes (68 subjects, 442 clips, 224 px faces; ``_common.synthetic_features``,
labelled as such: memory does not depend on pixel values), or with ``--demo`` the built-in demo's features (built
into the feature cache on first use, in a Ray cluster of its own, not measured), or ``--features DIR``.

One fixed configuration (``--space``'s fixed settings, with its demo variant for ``--demo``; ``--epochs`` default 2)
runs through
``LosoSearch`` + ``run_tune`` on a private local Ray cluster with ``--trials`` trials at a time (cpus_per_trial =
CPUs / trials, fractional when there are fewer CPUs than trials). The epoch count sets the run's length, not its
peak: every epoch repeats the same allocations (model, optimiser, batches), so 2 epochs measure what 30 would.

A sampler thread reads, every ``--interval`` s, the memory of this driver and of every process of the Ray cluster it
started (all descend from it; other Ray clusters on the machine are not counted): Tune's trial processes
(``ray::ImplicitFunc``), other Ray workers (``ray::IDLE``: pre-started, or starting up before they become trial
actors) and Ray's daemons (gcs_server, raylet, agents, log monitor). The figure is PSS from
``/proc/PID/smaps_rollup`` (psutil ``memory_full_info``): each process's private pages plus its share of pages it
shares, so sums over processes count shared libraries and the object store's copy of the features once; RSS (what
``ps`` shows) counts them once per process and is printed for comparison. Where PSS cannot be read, RSS is used and
the output says so. Also sampled: the machine's used memory (total - available, which includes /dev/shm, where the
object store lives) minus its value before the run. Other processes on the machine move that last figure (and every
timing).

Growth per fold of a reused trial process (Tune runs successive folds in the same process): each trial process's
peak PSS during each of its folds (a fold ends when the driver receives its result), and the least-squares slope
of those peaks over the folds after its third (the first folds warm up: imports, allocator pools, torch's kernels).
The goal (issue 20): <= 5 MiB per fold. Use ``--trials 1`` and ``--folds`` >= 8 for a clear figure.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    MIB,
    BackgroundSampler,
    Shape,
    array_bytes,
    cpu_count,
    fmt_s,
    machine_line,
    object_store_mib,
    print_table,
    psutil,
    ray_role,
    ray_tree,
    synthetic_features,
)

from mer_ray.infra.runtime import init_ray  # noqa: E402
from search_spaces.space import SearchSpace  # noqa: E402

GIB = 1024 * MIB
DEMO_GOAL_GIB = 6.0  # the demo's total (driver + Ray workers + daemons) on the 24 GiB development machine
COMPOSITE = Shape(subjects=68, clips=442, size=224)
QUICK_SHAPE = Shape(subjects=6, clips=24, size=64)
ROLES = ("driver", "trials", "other_workers", "daemons")
STARTING_WORKERS = ("default_worker.py", "setup_worker.py")  # a Ray worker before it names itself ray::...


def role_of(proc) -> tuple[str, str]:
    """(role, process name): ``driver``, ``trials`` (Tune trial actors), ``other_workers`` or ``daemons``."""
    role = ray_role(proc)
    if role == "driver":
        return role, "driver"
    name, cmdline = proc.name(), proc.cmdline()
    if cmdline and cmdline[0].startswith("ray::"):  # the full title (``name()`` may be cut to 15 characters)
        name = cmdline[0].strip()
    elif name.startswith("python"):  # Python processes: name them by their script (log_monitor.py, ...)
        scripts = [Path(a).name for a in cmdline[1:] if a.endswith(".py")]
        name = scripts[0] if scripts else name
        if name in STARTING_WORKERS:
            return "other_workers", name
    if role == "worker":
        return ("trials" if name.startswith("ray::ImplicitFunc") else "other_workers"), name
    return "daemons", name


@dataclass
class TrialPeak:
    pid: int
    name: str = ""
    pss: float = 0.0
    uss: float = 0.0
    rss: float = 0.0
    series: list[list[float]] = field(default_factory=list)  # [t, PSS MiB] per sample: growth over reused folds
    fold_ends: list[float] = field(default_factory=list)  # sampler times at which its folds' results arrived


@dataclass
class LoadPeaks:
    """Peaks (MiB) of the per-role sums of one sample; the sums of different roles peak at different times."""

    samples: int = 0
    metric: str = "PSS"  # "PSS" (smaps_rollup) or "RSS" (fallback)
    fallbacks: int = 0  # process samples where PSS could not be read and RSS stood in
    sums: dict[str, float] = field(default_factory=lambda: dict.fromkeys((*ROLES, "total"), 0.0))
    rss_sums: dict[str, float] = field(default_factory=lambda: dict.fromkeys((*ROLES, "total"), 0.0))
    machine_delta: float = 0.0  # peak of (total - available) minus the baseline
    outside_delta: float = 0.0  # peak of that minus this run's total at the same sample: everything else
    seconds: float = 0.0  # sampled time span
    object_store: float = 0.0  # peak pages allocated in the object store's /dev/shm file
    max_trials_alive: int = 0
    trials: dict[int, TrialPeak] = field(default_factory=dict)
    names: Counter = field(default_factory=Counter)  # Ray worker / daemon process names seen (per pid)
    series: list[list[float]] = field(default_factory=list)  # [t, driver, trials, other workers, daemons, machine]


class LoadSampler(BackgroundSampler):
    """Samples PSS (RSS as a fallback) of this driver and its Ray cluster every ``interval`` s in a thread."""

    def __init__(self, interval: float, baseline_used: float):
        super().__init__(interval)
        self.baseline = baseline_used
        self.peaks = LoadPeaks()
        self._seen: set[tuple[int, str]] = set()
        self._start = time.monotonic()

    def __enter__(self) -> LoadSampler:
        self._start = time.monotonic()
        return super().__enter__()

    def _sample(self) -> None:
        p = self.peaks
        pss = dict.fromkeys(ROLES, 0.0)
        rss = dict.fromkeys(ROLES, 0.0)
        alive = 0
        for proc in ray_tree():
            try:
                role, name = role_of(proc)
                try:
                    info = proc.memory_full_info()
                    mine, private, resident = info.pss / MIB, info.uss / MIB, info.rss / MIB
                except (psutil.AccessDenied, AttributeError):
                    resident = proc.memory_info().rss / MIB
                    mine, private = resident, resident
                    p.fallbacks += 1
                    p.metric = "RSS"
                if name == "raylet":
                    p.object_store = max(p.object_store, object_store_mib(proc))
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess, FileNotFoundError):
                continue
            if (proc.pid, name) not in self._seen and role != "driver":
                self._seen.add((proc.pid, name))
                p.names[name] += 1
            pss[role] += mine
            rss[role] += resident
            if role == "trials":
                alive += 1
                peak = p.trials.setdefault(proc.pid, TrialPeak(proc.pid, name))
                peak.pss, peak.uss, peak.rss = max(peak.pss, mine), max(peak.uss, private), max(peak.rss, resident)
                peak.series.append([round(time.monotonic() - self._start, 2), round(mine, 1)])
        machine = used_mib() - self.baseline
        for sums, now in ((p.sums, pss), (p.rss_sums, rss)):
            for role in ROLES:
                sums[role] = max(sums[role], now[role])
            sums["total"] = max(sums["total"], sum(now.values()))
        p.machine_delta = max(p.machine_delta, machine)
        p.outside_delta = max(p.outside_delta, machine - sum(pss.values()))
        p.seconds = time.monotonic() - self._start
        p.max_trials_alive = max(p.max_trials_alive, alive)
        p.samples += 1
        p.series.append([round(time.monotonic() - self._start, 2), *(round(pss[r], 1) for r in ROLES),
                         round(machine, 1)])


def growth(series: list[list[float]]) -> tuple[float, float]:
    """(peak in the first third of the samples, peak in the last third) of one process's [t, MiB] series."""
    third = len(series) // 3
    return max(v for _, v in series[:third]), max(v for _, v in series[-third:])


GROWTH_AFTER = 3  # folds of warm-up left out of the growth per fold
GROWTH_GOAL_MIB = 5.0  # issue 20's goal: growth per fold after fold 3


def fold_peaks(trial: TrialPeak) -> list[float]:
    """Peak PSS (MiB) of ``trial`` during each of its completed folds (between successive results)."""
    peaks, start = [], float("-inf")
    for end in trial.fold_ends:
        values = [v for t, v in trial.series if start < t <= end + 0.5]  # + the sample just after the report
        if values:
            peaks.append(max(values))
        start = end
    return peaks


def growth_per_fold(peaks: list[float], after: int = GROWTH_AFTER) -> float | None:
    """Least-squares slope (MiB per fold) of the per-fold peaks after the first ``after`` folds; None when fewer
    than 3 folds remain."""
    tail = peaks[after:]
    if len(tail) < 3:
        return None
    x = list(range(len(tail)))
    mx, my = statistics.fmean(x), statistics.fmean(tail)
    return sum((a - mx) * (b - my) for a, b in zip(x, tail)) / sum((a - mx) ** 2 for a in x)


def used_mib() -> float:
    vm = psutil.virtual_memory()
    return (vm.total - vm.available) / MIB


def folder_features(path: Path):
    """The features of an existing features folder (``python -m preprocessing run --out DIR``)."""
    from mer_ray.data.features import load_features

    return lambda: load_features(path), f"the features folder {path}"


def demo_features():
    """The built-in demo's features (``mer_ray/loso.py``'s default data), built once into the feature cache."""
    import ray

    from mer_ray.data.features import load_features
    from preprocessing.features.prepare import build_features, default_features_dir, select_samples
    from preprocessing.vision.clip import PreprocessConfig

    selection = select_samples(None)
    path = default_features_dir(selection, PreprocessConfig(), False)
    if not (path / "manifest.json").is_file():
        print(f"building the demo features once into {path} (cached for later runs; not measured) ...", flush=True)
        init_ray(num_cpus=cpu_count(), progress_bars=False, fresh=True)
        start = time.perf_counter()
        try:
            build_features(selection, None)
        finally:
            ray.shutdown()
        print(f"  preprocessing took {fmt_s(time.perf_counter() - start)}", flush=True)
    return lambda: load_features(path), f"the built-in demo's features {path}"


def configuration(args) -> dict:
    from mer_ray.methods import with_overrides
    from search_spaces import get_space

    space = get_space(args.space)
    # the networks' epochs (a portfolio's network members too); the hand-crafted methods have none
    return with_overrides(space.params(demo=args.demo), {"epochs": args.epochs})


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python benchmarks/memory_load.py", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--space", default="ensemble", help="search space whose fixed configuration runs (ensemble)")
    p.add_argument("--epochs", type=int, default=2, help="training epochs (memory does not depend on them; 2)")
    p.add_argument("--trials", type=int, default=4, help="trials at a time (cpus_per_trial = CPUs / trials; 4)")
    p.add_argument("--folds", type=int, default=0, help="only the first K held-out subjects (default: all)")
    data = p.add_mutually_exclusive_group()
    data.add_argument("--demo", action="store_true", help="the built-in demo's features; checks the 6 GiB goal")
    data.add_argument("--features", type=Path, metavar="DIR", help="an existing features folder")
    p.add_argument("--quick", action="store_true", help="a tiny synthetic set and 1 epoch: a smoke run")
    p.add_argument("--interval", type=float, default=0.25, help="sampling interval in seconds (0.25)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, help="also write the figures as JSON to this file")
    args = p.parse_args(argv)
    if args.quick:
        args.epochs = 1
    if args.trials < 1 or args.epochs < 1 or args.interval <= 0:
        p.error("--trials and --epochs must be >= 1 and --interval > 0")
    if psutil is None:
        p.error("psutil is needed (pip install psutil)")

    import ray

    from mer_ray.evaluation.folds import loso_folds
    from mer_ray.search.scheduler import LosoSearch
    from mer_ray.search.tune import run_tune

    print(machine_line())
    if args.features:
        load, source = folder_features(args.features.expanduser())
    elif args.demo:
        load, source = demo_features()
    else:
        shape = QUICK_SHAPE if args.quick else COMPOSITE
        load = lambda: synthetic_features(shape, seed=args.seed)  # noqa: E731
        source = (f"SYNTHETIC random arrays of the composite's shapes ({shape.subjects} subjects, {shape.clips} clips, "
                  f"{shape.size} px; memory does not depend on pixel values)")
    baseline = used_mib()  # before the features are in memory and before Ray starts
    features = load()
    folds = loso_folds(features.subjects)
    folds = folds[: args.folds] if args.folds else folds
    cpus = cpu_count()
    cpus_per_trial = cpus / args.trials
    params = configuration(args)
    print(f"data: {source}: {len(features)} clips, {len(features.subjects)} subjects, feature arrays "
          f"{array_bytes(features) / MIB:.0f} MiB")
    print(f"configuration: {args.space} fixed{' + demo variant' if args.demo else ''}, epochs={args.epochs}: "
          f"{json.dumps(params, sort_keys=True)}")
    print(f"{len(folds)} LOSO folds, {args.trials} trials at a time on {cpus} CPUs (cpus_per_trial "
          f"{cpus_per_trial:g}); sampling every {args.interval:g} s", flush=True)

    space = SearchSpace.of_recipe(f"memory_load.{args.space}", params)
    init = init_ray(num_cpus=cpus, progress_bars=False, fresh=True)
    try:
        with tempfile.TemporaryDirectory(prefix="memory-load-") as tmp:
            search = LosoSearch(Path(tmp) / "run", space, features, n_trials=1, seed=args.seed, folds=folds,
                                log=lambda _: None, max_open_configs=1)
            with LoadSampler(args.interval, baseline) as sampler:
                ends: list[float] = []  # when each fold's result arrived (the order of run_tune's records)
                complete = search.complete_fold
                search.complete_fold = lambda *a, **k: (ends.append(time.monotonic() - sampler._start),
                                                        complete(*a, **k))[1]
                start = time.perf_counter()
                nodes = run_tune(search, cpus_per_trial=cpus_per_trial)
                wall = time.perf_counter() - start
            predictions = search.all_predictions()
    finally:
        ray.shutdown()
    peaks = sampler.peaks
    done = predictions["subject"].nunique() if len(predictions) else 0
    print(f"ran {done} of {len(folds)} folds in {fmt_s(wall)} (+ ray.init {init:.1f} s) in "
          f"{len({n['pid'] for n in nodes})} trial process(es); {peaks.samples} samples "
          f"(one every {peaks.seconds / max(1, peaks.samples - 1):.2f} s on average)")

    for node, end in zip(nodes, ends, strict=False):
        if node.get("pid") in peaks.trials:
            peaks.trials[node["pid"]].fold_ends.append(end)
    trials = sorted(peaks.trials.values(), key=lambda t: t.pid)
    metric = peaks.metric
    trial_pss = [t.pss for t in trials] or [0.0]
    figures = {
        "trial_max": max(trial_pss),
        "trial_median": statistics.median(trial_pss),
        "trial_uss_max": max((t.uss for t in trials), default=0.0),
        "trial_rss_max": max((t.rss for t in trials), default=0.0),
        "trials_sum": peaks.sums["trials"],
        "other_workers_sum": peaks.sums["other_workers"],
        "daemons": peaks.sums["daemons"],
        "driver": peaks.sums["driver"],
        "total": peaks.sums["total"],
        "machine_used_delta": peaks.machine_delta,
        "outside_delta": peaks.outside_delta,
        "object_store": peaks.object_store,
    }
    rss = peaks.rss_sums
    rows = [
        ["one trial process, max", f"{figures['trial_max']:.0f}", f"{figures['trial_rss_max']:.0f}",
         f"USS (private) max {figures['trial_uss_max']:.0f} MiB"],
        ["one trial process, median", f"{figures['trial_median']:.0f}",
         f"{statistics.median([t.rss for t in trials] or [0.0]):.0f}", f"over {len(trials)} trial processes"],
        ["sum over trial processes", f"{figures['trials_sum']:.0f}", f"{rss['trials']:.0f}",
         f"at most {peaks.max_trials_alive} alive at once"],
        ["other Ray workers (idle, starting)", f"{figures['other_workers_sum']:.0f}", f"{rss['other_workers']:.0f}",
         "ray::IDLE: pre-started, or not yet a trial"],
        ["Ray daemons", f"{figures['daemons']:.0f}", f"{rss['daemons']:.0f}",
         f"object store: {figures['object_store']:.0f} MiB of /dev/shm allocated"],
        ["driver", f"{figures['driver']:.0f}", f"{rss['driver']:.0f}", "features + Tune's controller"],
        ["**total** (driver + workers + daemons)", f"**{figures['total']:.0f}**", f"{rss['total']:.0f}",
         f"{figures['total'] / 1024:.2f} GiB"],
        ["machine used - baseline", f"{figures['machine_used_delta']:.0f}", "-",
         "total - available; other processes move it"],
        ["machine used - baseline - this run's total", f"{figures['outside_delta']:.0f}", "-",
         "other processes, page tables, kernel"],
    ]
    print_table(["peak memory", f"{metric} MiB", "RSS MiB", "note"], rows,
                title=f"peak memory, {len(folds)} folds, {args.trials} trials at a time "
                      f"(cpus_per_trial {cpus_per_trial:g}), "
                      f"{'a features folder' if args.features else 'demo' if args.demo else 'synthetic'} data"
                      f"{' (QUICK: a smoke run, not a figure)' if args.quick else ''}")
    how = ("private pages + a share of shared ones (sums count shared pages once)" if metric == "PSS"
           else f"PSS unreadable for {peaks.fallbacks} process samples: RSS used (sums overstate)")
    print(f"- {metric}: {how}; peaks of different rows happen at different times, so rows do not add up to the "
          "total")
    print(f"- Ray process names seen: {', '.join(f'{n} ({c})' for n, c in peaks.names.most_common())}")
    thirds = [growth(t.series) for t in trials if len(t.series) >= 6]
    if thirds:
        print(f"- growth of a trial process over its reused folds (its peak PSS in the first third of its samples -> "
              f"the last third): median {statistics.median(a for a, _ in thirds):.0f} -> "
              f"{statistics.median(b for _, b in thirds):.0f} MiB, max {max(a for a, _ in thirds):.0f} -> "
              f"{max(b for _, b in thirds):.0f} MiB")
    per_fold = {t.pid: fold_peaks(t) for t in trials}
    slopes = {pid: growth_per_fold(v) for pid, v in per_fold.items()}
    measured = [g for g in slopes.values() if g is not None]
    figures["growth_per_fold"] = max(measured) if measured else None
    for t in trials:
        if per_fold[t.pid]:
            slope = slopes[t.pid]
            print(f"- trial process {t.pid}: {len(per_fold[t.pid])} folds, peak {metric} per fold (MiB) "
                  f"{' '.join(f'{v:.0f}' for v in per_fold[t.pid])}; growth per fold after fold {GROWTH_AFTER}: "
                  + ("- (too few folds)" if slope is None else f"{slope:+.1f} MiB"))
    if measured:
        met = max(measured) <= GROWTH_GOAL_MIB
        print(f"- growth per fold after fold {GROWTH_AFTER} (least-squares slope of a reused trial process's per-fold "
              f"peaks): max {max(measured):+.1f} MiB, median {statistics.median(measured):+.1f} MiB over "
              f"{len(measured)} process(es); goal <= {GROWTH_GOAL_MIB:g} MiB -> {'met' if met else 'MISSED'}")
    else:
        print(f"- growth per fold: no trial process ran more than {GROWTH_AFTER + 2} folds (more --folds, fewer "
              "--trials)")
    per_trial = figures["trial_max"]
    if per_trial:
        fixed = figures["total"] - figures["trials_sum"]
        print(f"- what fits: about {per_trial:.0f} MiB per trial process plus {fixed:.0f} MiB for the driver, "
              f"daemons and one shared copy of the features")
    goal = None
    if args.demo:
        met = figures["total"] <= DEMO_GOAL_GIB * 1024
        goal = {"gib": DEMO_GOAL_GIB, "met": met}
        print(f"- goal: the demo under {DEMO_GOAL_GIB:g} GiB in total: {figures['total'] / 1024:.2f} GiB {metric} "
              f"(machine used +{figures['machine_used_delta'] / 1024:.2f} GiB) -> {'met' if met else 'MISSED'}")
    print(f"\nload average at end: {machine_line()}")

    if args.out:
        report = {
            "data": source, "demo": args.demo,
            "per_fold_peaks_mib": {str(k): v for k, v in per_fold.items()}, "quick": args.quick, "clips": len(features),
            "subjects": len(features.subjects), "feature_mib": array_bytes(features) / MIB,
            "space": args.space, "epochs": args.epochs, "config": params, "folds": len(folds), "folds_done": done,
            "trials_at_once": args.trials, "cpus": cpus, "cpus_per_trial": cpus_per_trial,
            "trial_processes": len(trials), "max_trials_alive": peaks.max_trials_alive, "wall_s": wall,
            "ray_init_s": init, "metric": metric, "interval_s": args.interval, "samples": peaks.samples,
            "sampled_s": peaks.seconds,
            "peak_mib": figures, "peak_rss_sums_mib": dict(rss), "goal": goal, "machine": machine_line(),
            "per_trial": [vars(t) for t in trials], "process_names": dict(peaks.names),
            "series_columns": ["t_s", *ROLES, "machine_used_delta"], "series": peaks.series,
        }
        args.out.write_text(json.dumps(report, indent=1, default=float))
        print(f"figures written to {args.out}")
    return 0 if done == len(folds) else 1


if __name__ == "__main__":
    sys.exit(main())
