"""Finding and killing processes of Ray clusters on this machine: Tune trial workers, CLI subprocesses.

Shared by ``benchmarks/chaos.py`` and the fault tests (``tests/cluster/_procs.py``).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[1]
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


def running_trial_pids(nodes) -> list[int]:
    """Trial processes of ``nodes`` running a trial right now (titled ``ray::ImplicitFunc.train``; with reused
    actors a process runs fold after fold, so its title, not its age, tells a trial in flight)."""
    return sorted(pid for node in nodes for pid in trial_pids(node) if title(pid).startswith(TRIAL_RUNNING))


def title(pid: int) -> str:
    """The process title Ray gave ``pid`` ("" once it is gone)."""
    try:
        cmdline = psutil.Process(pid).cmdline()
    except psutil.Error:
        return ""
    return cmdline[0] if cmdline else ""


def start(args: list[str], cwd: Path, env: dict[str, str], log: Path) -> subprocess.Popen:
    """Start ``python <args>`` in a new session, so that it and every Ray process it starts can be killed."""
    with open(log, "w") as out:
        return subprocess.Popen([sys.executable, *args], cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)


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
    repo = str(REPO)
    env.update(MER_RAY_CACHE=str(cache), RAY_AUTH_MODE="disabled", PYTHONPATH=repo, PYTHONUNBUFFERED="1")
    return env


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
