"""Finding and killing processes of Ray clusters on this machine: Tune trial workers, CLI subprocesses.

The process helpers themselves live in ``benchmarks/_chaos_procs.py`` (the chaos benchmark uses them too).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from benchmarks._chaos_procs import (  # noqa: F401 (re-exported to the fault tests)
    cli_env,
    kill_session,
    run,
    running_trial_pids,
    start,
    title,
    trial_pids,
    wait_for_files,
)


class KillTrainingTrial(threading.Thread):
    """Once ``min_folds`` fold files exist under ``run_dir``, call ``kill(pid)`` on a trial process of ``nodes`` that is
    running a trial right now (Ray titles it ``ray::ImplicitFunc.train`` while the trial function runs and
    ``ray::ImplicitFunc`` between trials): a trial certainly mid-run, so Tune must retry it. With reused actors
    (the default) one process runs fold after fold, so its title, not its age, tells a trial in flight.
    Runs once, in the background.
    """

    def __init__(self, run_dir: Path, nodes: Iterable, kill: Callable[[int], None], *, min_folds: int = 1,
                 timeout: float = 150.0):
        super().__init__(daemon=True)
        self.run_dir, self.nodes, self.kill, self.timeout = run_dir, list(nodes), kill, timeout
        self.min_folds = min_folds
        self.killed_pid: int | None = None
        self.error: BaseException | None = None
        self.done = threading.Event()

    def run(self) -> None:
        try:
            deadline = time.monotonic() + self.timeout
            seen: dict[int, list[tuple[int, str]]] = {}  # pid -> (fold files, title) at each look, for the error
            while time.monotonic() < deadline and not self.done.is_set():
                folds = len(list((self.run_dir / "folds").glob("*/*.parquet")))
                for pid in (pid for node in self.nodes for pid in trial_pids(node)):
                    seen.setdefault(pid, []).append((folds, title(pid)))
                if folds >= self.min_folds:
                    running = running_trial_pids(self.nodes)
                    if running:
                        self.kill(running[0])
                        self.killed_pid = running[0]
                        return
                time.sleep(0.01)
            seen_changes = {pid: [v for i, v in enumerate(vs) if i == 0 or v != vs[i - 1]] for pid, vs in seen.items()}
            raise TimeoutError(f"no trial was running on the chosen nodes once {self.min_folds} fold(s) had "
                               f"finished; trial processes seen there: {seen_changes}")
        except BaseException as err:  # reported by the test
            self.error = err
