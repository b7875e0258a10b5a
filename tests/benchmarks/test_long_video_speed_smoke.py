"""Smoke path of benchmarks/long_video_speed.py (the timed run itself is not a test)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "long_video_speed.py"


@pytest.mark.slow  # ~30 s on 2 busy cores: the 8-s recording is rendered, then TV-L1 runs beside DIS
def test_quick_run_prints_every_stage_and_the_flow_comparison(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("MER_RAY_CACHE", str(tmp_path))
    monkeypatch.syspath_prepend(str(SCRIPT.parent))
    spec = importlib.util.spec_from_file_location("long_video_speed", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "long_video_speed", module)
    spec.loader.exec_module(module)
    assert module.main(["--quick", "--work", str(tmp_path / "work")]) == 0
    out = capsys.readouterr().out
    rows = {line.split("|")[1].strip(): line.split("|")[2:-1] for line in out.splitlines() if line.startswith("| ")}
    for stage in ("decode", "detect / track / align", "flow (DIS, 2 distances)", "scoring (cells + spotter)"):
        assert stage in rows and float(rows[stage][0]) > 0, rows
    assert any(name.startswith("recognition (") for name in rows)
    assert "goal <= 120 s for a one-minute recording:" in out
    assert float(rows["tvl1"][2]) > float(rows["dis"][2])  # TV-L1's flow takes longer than DIS's
    assert rows["dis"][4].strip() == "1.000" and -1 <= float(rows["tvl1"][4]) <= 1
