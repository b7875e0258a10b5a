"""Smoke path of benchmarks/predict_latency.py (the timed run itself is not a test)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "predict_latency.py"


def test_quick_run_prints_every_stage_for_both_configurations(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("MER_RAY_CACHE", str(tmp_path))
    monkeypatch.syspath_prepend(str(SCRIPT.parent))
    spec = importlib.util.spec_from_file_location("predict_latency", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "predict_latency", module)
    spec.loader.exec_module(module)
    assert module.main(["--quick"]) == 0
    out = capsys.readouterr().out
    rows = {line.split("|")[1].strip(): line.split("|")[2:4] for line in out.splitlines() if line.startswith("| ")}
    for stage in ("read", "alignment", "spotting", "flow", "model", "**total (stages)**"):
        assert stage in rows and all(float(v.strip().strip("*")) > 0 for v in rows[stage]), rows
    assert "goal <= 300 ms per clip (paper's configuration, default flow settings):" in out
