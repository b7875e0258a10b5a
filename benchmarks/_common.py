"""Helpers shared by the Ray benchmarks: a private local Ray cluster, process memory sampling, tables, fake data."""

from __future__ import annotations

import os
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np

try:  # the process-memory helpers need it; the device machine (GPU benchmarks) may lack it
    import psutil
except ImportError:  # pragma: no cover
    psutil = None

MIB = 1024 * 1024
RAY_AGENTS = ("ray::DashboardAgent", "ray::RuntimeEnvAgent")  # Ray's own per-node daemons, not workers


def machine_line() -> str:
    """CPUs and load average: a shared machine inflates and scatters every number."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    return f"{cpus} CPUs, load average {load} (other processes on this machine make every figure noisy)"


def cpu_count() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def ray_role(proc: psutil.Process) -> str:
    """``"driver"`` (this process), ``"worker"`` (a Ray worker: task, actor, trial, idle) or ``"system"``."""
    if proc.pid == os.getpid():
        return "driver"
    name = proc.name()
    if name.startswith("ray::") and name not in RAY_AGENTS:
        return "worker"
    return "system"  # gcs_server, raylet (with the object store), dashboard / runtime-env agents, monitors


def ray_tree() -> list[psutil.Process]:
    """This process and every descendant (a local Ray cluster's daemons and workers descend from its driver)."""
    me = psutil.Process()
    return [me, *me.children(recursive=True)]


@dataclass
class RssPeaks:
    """Peaks of the summed resident set size (MiB) per role; RSS counts shared pages once per process."""

    samples: int = 0
    driver: float = 0.0
    workers: float = 0.0
    driver_and_workers: float = 0.0
    everything: float = 0.0  # + Ray's daemons (raylet holds the object store)
    max_workers_alive: int = 0
    cpu_seconds: dict[str, float] = field(default_factory=dict)  # role -> CPU time (user + system) while sampled


class BackgroundSampler(ABC):
    """Calls ``_sample()`` on entry, every ``interval`` s in a daemon thread, and on exit; a context manager."""

    def __init__(self, interval: float):
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self._sample()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    @abstractmethod
    def _sample(self) -> None:
        """Take one sample."""


class RssSampler(BackgroundSampler):
    """Samples RSS and CPU time of this process and its descendants every ``interval`` s in a background thread.

    RSS (``/proc/PID/statm``) and CPU times (``/proc/PID/stat``) are cheap to read, so 0.2 s sampling costs little
    CPU. CPU time is counted from the first sample (or the process's start, for processes born later) to its last
    sample: a process that ends between samples loses at most ``interval`` of it. Use as a context manager.
    """

    def __init__(self, interval: float = 0.2):
        super().__init__(interval)
        self.peaks = RssPeaks()
        self._cpu: dict[int, tuple[str, float, float]] = {}  # pid -> (role, CPU s at first sight, CPU s now)
        self._first = True

    def __exit__(self, *exc) -> None:
        super().__exit__(*exc)
        cpu: dict[str, float] = {}
        for role, first, last in self._cpu.values():
            cpu[role] = cpu.get(role, 0.0) + last - first
        self.peaks.cpu_seconds = cpu

    def _sample(self) -> None:
        totals = {"driver": 0.0, "worker": 0.0, "system": 0.0}
        workers = 0
        for proc in ray_tree():
            try:
                role = ray_role(proc)
                totals[role] += proc.memory_info().rss / MIB
                times = proc.cpu_times()
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                continue
            workers += role == "worker"
            used = times.user + times.system
            name = "actor" if role == "worker" and "ClipProcessor" in _name(proc) else role
            first = self._cpu.get(proc.pid, (name, used if self._first else 0.0, used))[1]
            self._cpu[proc.pid] = (name, first, used)
        self._first = False
        p = self.peaks
        p.samples += 1
        p.driver = max(p.driver, totals["driver"])
        p.workers = max(p.workers, totals["worker"])
        p.driver_and_workers = max(p.driver_and_workers, totals["driver"] + totals["worker"])
        p.everything = max(p.everything, sum(totals.values()))
        p.max_workers_alive = max(p.max_workers_alive, workers)


def _name(proc: psutil.Process) -> str:
    try:
        return proc.name()
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return ""


@dataclass
class ProcessMemory:
    """Peaks (MiB) of one process from ``/proc/PID/smaps``: USS, PSS, shared, and its object-store mapping."""

    pid: int
    name: str
    uss: float = 0.0  # pages only this process maps (private): what it would free on exit
    pss: float = 0.0  # private + its share of shared pages
    shared: float = 0.0  # pages also mapped by other processes
    plasma_rss: float = 0.0  # resident pages of Ray's object store (/dev/shm/plasma*) mapped by this process
    plasma_private: float = 0.0  # of those, pages no other process maps (a private copy would show here)


class SmapsSampler:
    """Samples USS / PSS / shared of the processes ``select`` picks, every ``interval`` s, keeping per-pid peaks.

    Reading smaps of a process with torch loaded costs a few ms, so sample at ~1 s, not faster.
    """

    def __init__(self, select: Callable[[psutil.Process], bool], interval: float = 1.0):
        self.select = select
        self.interval = interval
        self.peaks: dict[int, ProcessMemory] = {}
        self.store_mib = 0.0  # peak memory allocated to the object store's shared-memory file, MiB
        self.samples = 0
        self.max_alive = 0  # most selected processes seen in one sample
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> SmapsSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def _sample(self) -> None:
        self.samples += 1
        alive = 0
        for proc in ray_tree():
            try:
                name = proc.name()
                if name == "raylet":
                    self.store_mib = max(self.store_mib, object_store_mib(proc))
                    continue
                if not self.select(proc):
                    continue
                maps = proc.memory_maps(grouped=True)
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess, FileNotFoundError):
                continue
            alive += 1
            peak = self.peaks.setdefault(proc.pid, ProcessMemory(proc.pid, name))
            peak.name = name
            private = sum(m.private_clean + m.private_dirty for m in maps) / MIB
            shared = sum(m.shared_clean + m.shared_dirty for m in maps) / MIB
            plasma = [m for m in maps if _plasma(m)]
            peak.uss = max(peak.uss, private)
            peak.pss = max(peak.pss, sum(m.pss for m in maps) / MIB)
            peak.shared = max(peak.shared, shared)
            peak.plasma_rss = max(peak.plasma_rss, sum(m.rss for m in plasma) / MIB)
            peak.plasma_private = max(peak.plasma_private, sum(m.private_clean + m.private_dirty for m in plasma) / MIB)
        self.max_alive = max(self.max_alive, alive)


def _plasma(mapping) -> bool:
    return "plasma" in os.path.basename(mapping.path)


def object_store_mib(raylet: psutil.Process) -> float:
    """Memory allocated to the object store: the tmpfs pages of its (unlinked) ``/dev/shm/plasma*`` file.

    The raylet maps the file without touching it, so its RSS says nothing; the file's allocated blocks are the
    store's pages in use (a high-water mark: pages of freed objects stay allocated for reuse). This Ray build has no
    object-store usage API without the dashboard / grpc (``ray memory``, ``ray.util.state`` need them).
    """
    seen: set[int] = set()
    total = 0
    for mapping in raylet.memory_maps(grouped=False):
        if not _plasma(mapping):
            continue
        try:
            stat = os.stat(f"/proc/{raylet.pid}/map_files/{mapping.addr}")
        except OSError:
            continue
        if stat.st_ino not in seen:
            seen.add(stat.st_ino)
            total += stat.st_blocks * 512
    return total / MIB


def print_table(headers: list[str], rows: Iterable[list], title: str = "") -> None:
    """A GitHub-markdown table (what the README quotes)."""
    if title:
        print(f"\n### {title}\n")
    print("| " + " | ".join(headers) + " |")
    print("|" + "---|" * len(headers))
    for row in rows:
        print("| " + " | ".join(str(c) for c in row) + " |")


def fmt_s(seconds: float) -> str:
    """``93.4 s`` below 10 minutes, ``1 h 02 min`` / ``12.5 min`` above."""
    if seconds >= 3600:
        hours, rest = divmod(seconds, 3600)
        return f"{int(hours)} h {rest / 60:02.0f} min"
    if seconds >= 600:
        return f"{seconds / 60:.1f} min"
    return f"{seconds:.1f} s"


@dataclass
class Shape:
    """Shape of a fake feature set: subjects, clips per subject, face size, class shares."""

    subjects: int
    clips: int
    size: int = 224
    class_counts: tuple[int, int, int] = field(default=(250, 109, 83))  # composite: negative, positive, surprise


def synthetic_features(shape: Shape, seed: int = 0):
    """A ``FeatureSet`` of random arrays with the given shape (timing of training does not depend on pixel values).

    Clips are spread over subjects as evenly as possible (e.g. 442 over 68: 34 subjects with 7, 34 with 6) and
    labels follow ``shape.class_counts`` scaled to ``shape.clips``, shuffled with ``seed``.
    """
    import pandas as pd

    from mer_ray.data.features import FeatureSet

    rng = np.random.default_rng(seed)
    n, size = shape.clips, shape.size
    if shape.subjects < 2 or n < 2 * shape.subjects:
        raise ValueError(f"synthetic set: expected >= 2 subjects and >= 2 clips per subject; got {shape}")
    counts = np.asarray(shape.class_counts, dtype=float)
    per_class = np.floor(counts / counts.sum() * n).astype(int)
    per_class[0] += n - per_class.sum()
    labels = rng.permutation(np.repeat(np.arange(3), per_class))
    per_subject = np.full(shape.subjects, n // shape.subjects)
    per_subject[: n % shape.subjects] += 1
    subjects = np.repeat(np.arange(shape.subjects), per_subject)
    names = {0: "negative", 1: "positive", 2: "surprise"}
    meta = pd.DataFrame({
        "sample_id": [f"synthetic/s{s:02d}/clip{i:03d}" for i, s in enumerate(subjects)],
        "dataset": "synthetic",
        "subject": [f"synthetic/s{s:02d}" for s in subjects],
        "clip": [f"clip{i:03d}" for i in range(n)],
        "emotion": [names[int(v)] for v in labels],
        "label": labels.astype(np.int64),
        "onset": 0, "apex": 5, "offset": 10, "apex_spotted": False,
    })
    flow = rng.standard_normal((n, 4, size, size), dtype=np.float32)  # (N, 4, S, S) u, v, strain, magnitude
    apex = rng.integers(0, 256, (n, size, size), dtype=np.uint8)  # (N, S, S)
    mask = np.ones((n, size, size), np.uint8)
    # landmarks (MDMO's ROIs) jittered around a face-shaped layout, and the stored frame sequence (LBP-TOP)
    layout = np.stack(np.meshgrid(np.linspace(0.2, 0.8, 17), np.linspace(0.25, 0.85, 4)), -1).reshape(-1, 2)[:68]
    landmarks = (layout * size + rng.normal(0, size * 0.01, (n, 68, 2))).astype(np.float32)
    sequence = rng.integers(0, 256, (n, 8, 64, 64), dtype=np.uint8)
    return FeatureSet(meta=meta, flow=flow, apex_face=apex, mask=mask, landmarks=landmarks, sequence=sequence,
                      source="synthetic (random arrays)")


def array_bytes(features) -> int:
    """Bytes of a FeatureSet's arrays (flow + apex faces + masks)."""
    return int(features.flow.nbytes + features.apex_face.nbytes + features.mask.nbytes)


def run_fixed_recipe(features, params: dict, folds, seed: int, tmp, name: str, *, details: bool = False):
    """``(pooled predictions, wall seconds)`` of one fixed recipe over ``folds``, through ``LosoSearch`` + Ray Tune
    (one trial per fold, as many at a time as CPUs); ``name`` labels the run folder ``tmp/name``. With
    ``details``, also each fold's ``FoldResult.details`` (fold name -> record; a portfolio's weights)."""
    import time

    from mer_ray.search.scheduler import LosoSearch
    from mer_ray.search.tune import run_tune
    from search_spaces.space import SearchSpace

    space = SearchSpace.of_recipe(name, params)
    search = LosoSearch(tmp / name, space, features, n_trials=1, seed=seed, folds=folds, log=lambda _: None,
                        max_open_configs=1)
    start = time.perf_counter()
    run_tune(search, cpus_per_trial=1.0)
    seconds = time.perf_counter() - start
    if details:
        return search.all_predictions(), seconds, search.folder.fold_details("c000")
    return search.all_predictions(), seconds


def grouped_folds(subjects: list[str], k: int):
    """``k`` folds of whole subjects (a fixed permutation): a cheaper screen than leave-one-subject-out."""
    from mer_ray.evaluation.folds import Fold

    order = np.random.default_rng(0).permutation(len(subjects))
    return [Fold(f"g{g}", tuple(sorted(subjects[i] for i in order[g::k]))) for g in range(k)]
