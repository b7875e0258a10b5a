"""Finding and killing processes of Ray clusters on this machine: Tune trial workers, CLI subprocesses."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import psutil

TRIAL_PROCESS = "ray::ImplicitFunc"  # the title Ray gives the worker process of a Tune function trial
TRIAL_RUNNING = f"{TRIAL_PROCESS}.train"  # its title while the trial function runs


def trial_pids(node) -> set[int]:
    """Pids of the Tune trial processes on ``node`` (a ``cluster_utils`` node: workers are its raylet's children)."""
    try:
        raylet = psutil.Process(node.all_processes["raylet"][0].process.pid)
        children = raylet.children(recursive=True)
    except (psutil.NoSuchProcess, KeyError, IndexError):
        return set()
    pids = set()
    for child in children:
        try:
            if child.name().startswith(TRIAL_PROCESS):
                pids.add(child.pid)
        except psutil.NoSuchProcess:
            continue
    return pids


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
                    seen.setdefault(pid, []).append((folds, _title(pid)))
                if folds >= self.min_folds:
                    running = [pid for node in self.nodes for pid in trial_pids(node)
                               if _title(pid).startswith(TRIAL_RUNNING)]
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


def _title(pid: int) -> str:
    """The process title Ray gave ``pid`` ("" once it is gone)."""
    try:
        cmdline = psutil.Process(pid).cmdline()
    except psutil.Error:
        return ""
    return cmdline[0] if cmdline else ""


def wait_for_files(root: Path, pattern: str, proc: subprocess.Popen, timeout: float) -> list[Path]:
    """Wait until ``root.glob(pattern)`` finds something; fail early if ``proc`` exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = sorted(root.glob(pattern))
        if found:
            return found
        if proc.poll() is not None:
            raise RuntimeError(f"the process exited with {proc.returncode} before {root / pattern} appeared")
        time.sleep(0.02)
    raise TimeoutError(f"nothing matched {root / pattern} within {timeout:.0f} s")


def cli_env(cache: Path) -> dict[str, str]:
    """Environment of a CLI subprocess: its own feature cache, its own local Ray, this repository importable."""
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    repo = str(Path(__file__).resolve().parents[2])
    env.update(MER_RAY_CACHE=str(cache), RAY_AUTH_MODE="disabled", PYTHONPATH=repo, PYTHONUNBUFFERED="1")
    return env


def start(args: list[str], cwd: Path, env: dict[str, str], log: Path) -> subprocess.Popen:
    """Start ``python <args>`` in a new session, so that it and every Ray process it starts can be killed."""
    with open(log, "w") as out:
        return subprocess.Popen([sys.executable, *args], cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)


def run(args: list[str], cwd: Path, env: dict[str, str], log: Path, timeout: float = 240.0) -> str:
    """Run ``python <args>`` to completion (its session killed afterwards); its output; fails on a non-zero exit."""
    proc = start(args, cwd, env, log)
    try:
        proc.wait(timeout=timeout)
    finally:
        kill_session(proc)
    output = log.read_text()
    if proc.returncode != 0:
        raise AssertionError(f"{' '.join(args)} exited with {proc.returncode}:\n{output[-3000:]}")
    return output


def session_processes(sid: int) -> list[psutil.Process]:
    """Live (non-zombie) processes of session ``sid``."""
    found = []
    for proc in psutil.process_iter(["status"]):
        try:
            if os.getsid(proc.pid) == sid and proc.info["status"] != psutil.STATUS_ZOMBIE:
                found.append(proc)
        except (ProcessLookupError, PermissionError, psutil.NoSuchProcess):
            continue
    return found


def kill_session(proc: subprocess.Popen, timeout: float = 30.0) -> None:
    """SIGKILL ``proc`` (started with ``start_new_session=True``) and every process of its session, until none
    is left. Ray's workers leave the driver's process group but stay in its session; nothing else is touched."""
    deadline = time.monotonic() + timeout
    while True:
        alive = session_processes(proc.pid)
        for member in alive:
            try:
                member.kill()
            except psutil.NoSuchProcess:
                pass
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=timeout)
        if not alive:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"processes of session {proc.pid} survive SIGKILL: {[p.pid for p in alive]}")
        time.sleep(0.2)
