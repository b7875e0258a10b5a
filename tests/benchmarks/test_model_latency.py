"""Smoke path of benchmarks/model_latency.py (the timed run itself is not a test)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "model_latency.py"


def test_quick_run_prints_ratio_table(capsys, monkeypatch):
    spec = importlib.util.spec_from_file_location("model_latency", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "model_latency", module)  # dataclasses look their module up
    spec.loader.exec_module(module)
    module.main(["--quick", "--runs", "2", "--warmup", "0", "--threads", "1", "--no-extra",
                 "--models", "shufflenet_v2", "mobilenet_v2"])
    out = capsys.readouterr().out
    rows = {line.split("|")[1].strip(): line for line in out.splitlines() if line.startswith("| ")}
    assert {"shufflenet_v2", "mobilenet_v2"} <= set(rows)
    assert rows["mobilenet_v2"].split("|")[7].strip() == "1.00"  # ratio of MobileNetV2 to itself
    with pytest.raises(SystemExit):
        module.main(["--runs", "0"])
