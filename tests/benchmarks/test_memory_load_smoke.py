"""Smoke run of benchmarks/memory_load.py (``--quick``): it runs end to end, prints its table and writes its JSON.

The benchmark runs as a script in a subprocess (it starts a Ray cluster of its own). No memory figure is asserted
beyond being positive: the goals are checked by the benchmark itself on real runs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "benchmarks" / "memory_load.py"


@pytest.mark.slow
@pytest.mark.ray
def test_memory_load_quick(tmp_path):
    out_file = tmp_path / "memory.json"
    env = {**os.environ, "MER_RAY_CACHE": str(tmp_path / "cache"), "RAY_AUTH_MODE": "disabled"}
    result = subprocess.run([sys.executable, str(SCRIPT), "--quick", "--out", str(out_file)], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=400)
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    out = result.stdout
    assert "SYNTHETIC random arrays" in out and "QUICK: a smoke run, not a figure" in out
    assert "| peak memory | PSS MiB | RSS MiB | note |" in out or "| peak memory | RSS MiB | RSS MiB | note |" in out
    for row in ("| one trial process, max |", "| one trial process, median |", "| sum over trial processes |",
                "| Ray daemons |", "| driver |", "| **total** (driver + workers + daemons) |",
                "| machine used - baseline |"):
        assert row in out, row
    assert "ray::ImplicitFunc" in out  # the trial processes were found

    report = json.loads(out_file.read_text())
    assert report["folds"] == report["folds_done"] == 6 and report["trials_at_once"] == 4
    assert report["cpus_per_trial"] == pytest.approx(report["cpus"] / 4)
    assert report["metric"] in ("PSS", "RSS") and report["samples"] >= 2
    peaks = report["peak_mib"]
    for key in ("trial_max", "trial_median", "trials_sum", "daemons", "driver", "total", "machine_used_delta"):
        assert key in peaks, key
    assert 0 < peaks["trial_median"] <= peaks["trial_max"] <= peaks["trials_sum"] <= peaks["total"]
    assert peaks["driver"] > 0 and peaks["daemons"] > 0
    assert report["trial_processes"] == len(report["per_trial"]) >= 1
