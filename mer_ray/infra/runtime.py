"""Process-wide runtime shared by both CLIs and the benchmarks: starting or joining Ray, and the cache folder."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

_joined = False  # whether init_ray joined an existing cluster (which may gain nodes) rather than starting one
_session_dir: Path | None = None  # the Ray session folder of init_ray's last ray.init (ray.init's RayContext says)


def cache_root() -> Path:
    """``$MER_RAY_CACHE`` (unset or empty: ``~/.cache/mer_ray``), absolute: demo datasets and feature caches."""
    return Path(os.environ.get("MER_RAY_CACHE") or Path.home() / ".cache" / "mer_ray").expanduser().resolve()


def joined_existing_cluster() -> bool:
    """True when :func:`init_ray` was given an address: the cluster may grow, so pools should autoscale."""
    return _joined


def ray_session_dir() -> Path | None:
    """The Ray session folder (``/tmp/ray/session_...``: its ``logs/`` hold the workers' output) of the cluster
    :func:`init_ray` started or joined; None before, for a client connection (``ray://``) or when Ray was
    initialised without :func:`init_ray`."""
    return _session_dir


MALLOC_ARENA_MAX = "2"  # glibc malloc arenas per Ray worker process (worker_env; a value set by the user wins)


def worker_env() -> dict[str, str]:
    """Environment variables of every Ray worker of the job (``ray.init``'s ``runtime_env``).

    ``MALLOC_ARENA_MAX``: Ray Tune runs each trial of a reused trial process (one LOSO fold) in a NEW thread, and
    glibc gives each new thread a malloc arena of its own (up to 8 per CPU), which keeps the pages the fold freed;
    a reused process then grew by about a fold's working set per fold until every arena was taken (issue 20:
    ~30-40 MiB per fold, no plateau over 17 folds). Two arenas keep it flat (``benchmarks/memory_load.py``: growth
    per fold after fold 3).
    """
    return {"MALLOC_ARENA_MAX": os.environ.get("MALLOC_ARENA_MAX") or MALLOC_ARENA_MAX}


def init_ray(address: str | None = None, *, num_cpus: int | None = None, num_gpus: int | None = None,
             progress_bars: bool = True, fresh: bool = False, log_to_driver: bool = True) -> float:
    """Start (or join) Ray once per process; returns the seconds ``ray.init`` took (0 if already running).

    Args:
        address: ``None`` starts a local cluster on this machine (``address="local"``: a plain ``ray.init()``
            would silently join any cluster already running here); ``"auto"`` joins the cluster this machine
            is part of (``ray start`` / ``ray up``); ``"ray://host:10001"`` connects a client.
        num_cpus: CPUs of a new local cluster (default: all of this machine's).
        num_gpus: GPUs of a new local cluster (default: Ray's detection).
        progress_bars: Ray Data's progress bars (benchmarks turn them off: they would drown the tables).
        fresh: refuse to reuse a Ray already initialised in this process (a benchmark needs its own cluster).
        log_to_driver: stream the workers' output to this terminal (the quiet console turns it off: it stays in
            Ray's session logs, linked from the run folder's ``logs/``).
    """
    import ray

    global _joined, _session_dir
    if ray.is_initialized():
        if fresh:
            raise RuntimeError("Ray is already initialised in this process; the benchmark needs a cluster of its own")
        return 0.0
    _joined = address is not None
    if address is None:
        os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # a private, local, single-user cluster
    os.environ.setdefault("RAY_DEDUP_LOGS", "1")
    start = time.perf_counter()
    context = ray.init(
        address=address or "local",
        num_cpus=num_cpus if address is None else None,
        num_gpus=num_gpus if address is None else None,
        include_dashboard=False if address is None else None,
        logging_level=logging.WARNING,
        log_to_driver=log_to_driver,
        runtime_env={"env_vars": worker_env()},
    )
    seconds = time.perf_counter() - start
    session = (getattr(context, "address_info", None) or {}).get("session_dir")  # a client's context has none
    _session_dir = Path(session) if session else None
    from mer_ray.infra.interrupts import reinstall

    reinstall()  # a CLI catching SIGINT / SIGTERM keeps them (Ray's core worker installs its own SIGTERM handler)
    try:
        from ray.data import DataContext

        DataContext.get_current().enable_progress_bars = progress_bars
    except ImportError:
        pass
    from mer_ray.infra.console import active

    if active() is not None:  # Ray Data configured its console logger on import: send it to the log file
        active().route_library_logs()
    return seconds


SHUTDOWN_SECONDS = 30.0  # after an interrupt: how long Ray gets to shut down before the CLI exits anyway


def shutdown_ray_after_interrupt(within: float = SHUTDOWN_SECONDS) -> None:
    """``ray.shutdown()`` for a CLI that got SIGINT / SIGTERM, bounded by ``within`` seconds.

    On a timeout one line says so on stderr and the threads' stacks go to the quiet console's log (stderr without
    one); the CLI then exits regardless (:func:`mer_ray.infra.interrupts.exit_process`), and the Ray processes it
    started share its fate.
    """
    import sys

    import ray

    from mer_ray.infra.console import active
    from mer_ray.infra.interrupts import wind_down

    if not ray.is_initialized():
        return
    console = active()
    if not wind_down(ray.shutdown, within=within, stacks=console.stream if console else None):
        where = f" (threads' stacks in {console.log_file})" if console else ""
        print(f"Ray did not shut down within {within:g} s of the interrupt{where}; exiting anyway", file=sys.stderr,
              flush=True)
