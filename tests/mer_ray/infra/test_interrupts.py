"""mer_ray.infra.interrupts: a signal becomes one exception, and the way out is bounded."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

import pytest

from mer_ray.infra.interrupts import Interrupted, catch_signals, critical, wind_down

REPO = Path(__file__).resolve().parents[3]


def test_a_signal_becomes_interrupted_and_waits_for_a_critical_block():
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        done = []
        with pytest.raises(Interrupted) as stop, catch_signals():
            with critical():
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(0.05)
                done.append("written")  # the block finishes before the interrupt is raised
            time.sleep(1)
        assert done == ["written"] and stop.value.exit_code == 143 and stop.value.name == "SIGTERM"
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)


def test_wind_down_returns_when_the_cleanup_does():
    ran = []
    assert wind_down(lambda: ran.append(1), within=5) is True and ran == [1]


def test_wind_down_logs_a_failing_cleanup_instead_of_raising(caplog):
    def broken() -> None:
        raise RuntimeError("ray is gone")

    assert wind_down(broken, within=5) is True
    assert "clean-up after the interrupt failed" in caplog.text and "ray is gone" in caplog.text


def test_wind_down_gives_up_on_a_hung_cleanup_and_writes_every_threads_stack():
    release = threading.Event()
    with tempfile.TemporaryFile("w+") as stacks:  # faulthandler needs a real descriptor
        start = time.monotonic()
        assert wind_down(lambda: release.wait(60), within=0.5, stacks=stacks) is False
        waited = time.monotonic() - start
        release.set()
        stacks.seek(0)
        text = stacks.read()
    assert 0.5 <= waited < 5
    assert "still running after 0.5 s" in text
    assert text.count("hread 0x") >= 2  # the hung clean-up's thread and the current one
    assert "in <lambda>" in text and "interrupts.py" in text  # where the clean-up hangs


def test_wind_down_without_a_real_descriptor_still_returns():
    assert wind_down(lambda: time.sleep(5), within=0.2, stacks=io.StringIO()) is False


SCRIPT = textwrap.dedent("""
    import os, signal, threading, time
    from mer_ray.infra.interrupts import Interrupted, catch_signals, exit_process

    def main():
        with catch_signals():
            try:
                threading.Thread(target=time.sleep, args=(600,)).start()  # a library's thread that never ends
                print("ready", flush=True)
                time.sleep(60)
            except Interrupted as stop:
                print("stopped", flush=True)
                return stop.exit_code
        return 0

    exit_process(main())
""")


def test_an_interrupted_cli_exits_at_once_although_a_non_daemon_thread_still_runs():
    """Without exit_process the interpreter would join the sleeping thread for ten minutes."""
    proc = subprocess.Popen([sys.executable, "-c", SCRIPT], stdout=subprocess.PIPE, text=True, cwd=REPO)
    assert proc.stdout.readline().strip() == "ready"
    start = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 143 and out.strip() == "stopped" and time.monotonic() - start < 10
