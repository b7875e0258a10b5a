"""The console of `python -m mer_ray.loso` as a user sees it: under a pseudo-terminal, and with --verbose."""

from __future__ import annotations

import fcntl
import os
import pty
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pytest

from tests.mer_ray._synthetic import synthetic_features, write_features_folder

REPO = Path(__file__).resolve().parents[2]
NOISE = ("INFO", "core_worker", "Traceback", "A new study created", "(pid=", "WARNING")


def run_in_pty(argv: list[str], env: dict, cols: int = 120) -> tuple[int, str]:
    """``argv`` with its stdin / stdout / stderr on a pseudo-terminal of ``cols`` columns: (exit code, output)."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: the CLI, on the terminal
        os.chdir(REPO)
        os.execve(sys.executable, [sys.executable, *argv], env)
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 40, cols, 0, 0))
    out = bytearray()
    while True:
        try:
            data = os.read(fd, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        out.extend(data)
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    return os.waitstatus_to_exitcode(status), out.decode("utf-8", "replace")


@pytest.mark.slow
def test_a_terminal_gets_a_live_bar_and_no_library_noise_and_verbose_brings_it_back(tmp_path):
    features = write_features_folder(synthetic_features(n_subjects=3, clips=3, size=32), tmp_path / "features",
                                     {"protocol": "3class", "datasets": {"casme2": "/data/CASME2"}})
    env = {**os.environ, "MER_RAY_CACHE": str(tmp_path / "cache"), "RAY_AUTH_MODE": "disabled",
           "OMP_NUM_THREADS": "1"}
    argv = ["-m", "mer_ray.loso", "--search", "probe", "--features", str(features)]
    rc, out = run_in_pty([*argv, "--out", str(tmp_path / "quiet")], env)
    assert rc == 0, out
    assert not [word for word in NOISE if word in out], out
    assert "\rfolds 3/3 |" in out and "configs 1/1 | best UAR" in out and "ETA" in out  # the live bar
    assert "[folds " not in out  # the per-event lines are for logs, not terminals
    assert "report: " in out
    [run] = list((tmp_path / "quiet").iterdir())
    assert "A new study created" in (run / "logs" / "driver.log").read_text()  # the library lines are kept there
    assert (run / "logs" / "ray").is_dir()  # this Ray session's own logs (workers)

    plain = subprocess.run([sys.executable, *argv, "--out", str(tmp_path / "plain")], capture_output=True, text=True,
                           env=env, cwd=REPO, timeout=300)
    assert plain.returncode == 0
    assert "[folds 3/3 | configs 1/1 | best UAR" in plain.stdout  # without a terminal: one line per event
    assert "A new study created" not in plain.stdout + plain.stderr

    verbose = subprocess.run([sys.executable, *argv, "--out", str(tmp_path / "verbose"), "--verbose"],
                             capture_output=True, text=True, env=env, cwd=REPO, timeout=300)
    assert verbose.returncode == 0
    assert "A new study created" in verbose.stdout + verbose.stderr


@pytest.mark.slow
def test_preprocessing_in_a_terminal_shows_a_live_clip_count_and_plain_lines_without_one(tmp_path):
    env = {**os.environ, "MER_RAY_CACHE": str(tmp_path / "cache"), "RAY_AUTH_MODE": "disabled",
           "OMP_NUM_THREADS": "1"}
    argv = ["-m", "preprocessing", "run", "--smoke-test"]
    rc, out = run_in_pty([*argv, "--out", str(tmp_path / "tty")], env)
    assert rc == 0, out
    assert not [word for word in NOISE if word in out], out
    total = out.split("preprocessing ", 1)[1].split(" clips", 1)[0]  # "preprocessing 8 clips (0 already in ...)"
    assert f"\rclips {total}/{total} |" in out and "0 rejected" in out and "ETA" in out, out
    assert "preprocessed " not in out  # the plain lines are for logs, not terminals

    plain = subprocess.run([sys.executable, *argv, "--out", str(tmp_path / "plain")], capture_output=True,
                           text=True, env=env, cwd=REPO, timeout=300)
    assert plain.returncode == 0, plain.stderr
    assert f"preprocessed {total}/{total} clips (0 rejected)" in plain.stdout
    assert "\rclips" not in plain.stdout
