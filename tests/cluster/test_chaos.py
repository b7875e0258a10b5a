"""The chaos run at CI scale (``benchmarks/chaos.py --quick``): on a real two-node Ray cluster, random trial
processes are SIGKILLed mid-fold, then the worker node, then the driver, which ``--resume`` continues. The run must
end with every fold exactly once and the undisturbed run's very predictions and pooled scores, and every planned
fault must really have been injected.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cluster._procs import cli_env

pytestmark = [pytest.mark.ray, pytest.mark.slow]

CHAOS = Path(__file__).resolve().parents[2] / "benchmarks" / "chaos.py"


def test_a_chaos_run_at_ci_scale_survives_every_fault_with_identical_predictions(tmp_path):
    figures = tmp_path / "chaos.json"
    done = subprocess.run([sys.executable, str(CHAOS), "--quick", "--work", str(tmp_path / "work"), "--json",
                           str(figures)], env=cli_env(tmp_path / "cache"), capture_output=True, text=True,
                          timeout=1100)
    assert done.returncode == 0, f"{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    result = json.loads(figures.read_text())
    for kind, fault in result["faults"].items():  # each kind really happened, and was survived
        assert fault["injected"] == fault["planned"] > 0, (kind, fault)
        assert fault["survived"] == fault["injected"], (kind, fault)
    assert result["tune_trial_errors"] >= 1  # Tune saw the kills (a trial process or node died under it)
    assert result["folds_rerun_after_resume"] == 0  # --resume kept every fold finished before the driver died
    assert result["folds_expected"] == result["folds_present"] == 2 * result["subjects"]
    assert result["folds_duplicated"] == 0
    assert result["predictions_identical"] and result["pooled_identical"]
    assert set(result["pooled"]) == {"probe", "model"}
    assert "predictions identical to the undisturbed run (scores bit for bit): yes" in done.stdout
    assert "| driver kill | 1 | 1 | 1 |" in done.stdout
