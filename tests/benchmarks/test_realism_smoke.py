"""Smoke run of ``benchmarks/realism.py --quick`` (a tiny realistic demo, 1 epoch) and its pure helpers."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pytest

from tests.benchmarks.test_benchmarks_smoke import check_ok, run_benchmark

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import realism  # noqa: E402


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("mer_ray_cache")


def test_published_step_counts_are_kept_on_a_smaller_set():
    from search_spaces import peers

    # STSTNet: batch 256, 800 epochs on ~435 training clips = 2 steps per epoch
    assert realism.published_steps(peers.RECIPES["ststnet"]) == 1600
    assert realism.published_steps(peers.RECIPES["sssnet"]) == 200 * 7
    # a 240-clip, 30-subject LOSO trains on 232 clips: 1 step per epoch at batch 256 -> 1600 epochs
    assert realism.epochs_for_steps(1600, 232, 256) == 1600
    assert realism.epochs_for_steps(1400, 232, 64) == 350
    assert realism.epochs_for_steps(1600 * 0.25, 232, 256) == 400
    assert realism.epochs_for_steps(1, 232, 64) == 1  # never 0


def test_calibration_targets_and_rank_agreement():
    uar = {"probe": 0.60, "sssnet": 0.63, "off_apexnet": 0.61, "ststnet": 0.58, "mdmo": 0.53, "lbptop": 0.50}
    verdicts = {target: ok for target, _, ok in realism.targets(uar)}
    assert all(verdicts.values()), verdicts
    uar["ststnet"] = 0.50
    assert not dict((t, ok) for t, _, ok in realism.targets(uar))["STSTNet - probe in [-0.04, +0.04]"]
    tau, _, n = realism.kendall(dict(realism.PUBLISHED_UF1), realism.PUBLISHED_UF1)
    assert n == 5 and math.isclose(tau, 1.0)


def _run(seed: int, scores: dict[str, tuple[float, float]]) -> dict:
    return {"preset": "realistic", "seed": seed, "set": [], "protocol": "grouped 5-fold",
            "methods": {m: {"uar": uar, "uf1": uf1} for m, (uar, uf1) in scores.items()}}


def test_tables_judge_the_targets_on_the_mean_over_runs(tmp_path, capsys):
    # STSTNet is outside its band on one seed and inside on the other; the mean (-0.035) is inside on UAR.
    # On UF1 it is -0.10 on both: outside.
    a = _run(0, {"probe": (0.70, 0.70), "ststnet": (0.65, 0.60), "sssnet": (0.73, 0.72), "mdmo": (0.60, 0.60)})
    b = _run(7, {"probe": (0.70, 0.70), "ststnet": (0.68, 0.60), "sssnet": (0.74, 0.74), "mdmo": (0.61, 0.61)})
    paths = []
    for name, run in (("a.json", a), ("b.json", b)):
        (tmp_path / name).write_text(json.dumps(run))
        paths.append(str(tmp_path / name))
    assert realism.main(["--tables", *paths]) == 0
    out = capsys.readouterr().out
    assert "| ststnet | 0.650 (-0.050) | 0.680 (-0.020) | 0.665 (-0.035) | 0.600 (-0.100) |" in out
    assert "| STSTNet - probe in [-0.04, +0.04] | -0.035 | yes | -0.100 | NO |" in out
    assert "4 of 4 targets met on UAR, 3 of 4 on UF1" in out


def test_tables_label_runs_with_their_preset_version():
    """Runs of two versions of a preset are different data: the table says which (older runs recorded none)."""
    run = _run(0, {"probe": (0.7, 0.7)})
    assert realism.run_label(run) == "realistic s0"
    versioned = {**run, "preset_version": 2, "set": ["wrinkle_depth=0"]}
    assert realism.run_label(versioned) == "realistic v2 s0 wrinkle_depth=0"


def test_tables_need_the_probe(tmp_path):
    (tmp_path / "a.json").write_text(json.dumps(_run(0, {"sssnet": (0.7, 0.7)})))
    with pytest.raises(SystemExit, match="probe"):
        realism.main(["--tables", str(tmp_path / "a.json")])


@pytest.mark.slow
@pytest.mark.ray
def test_realism_quick(cache, tmp_path):
    saved = tmp_path / "quick.json"
    out = check_ok(run_benchmark("realism.py", cache, "--preset", "realistic", "--quick", "--json", str(saved),
                                 timeout=900))
    version = realism.PRESET_VERSIONS["realistic"]
    assert f"realistic preset v{version}, generator seed 0 (QUICK: not a figure)" in out
    assert json.loads(saved.read_text())["preset_version"] == version
    for method in realism.METHODS:
        assert f"| {method} |" in out
    assert "Kendall tau" in out and "calibration targets" in out and "targets met" in out
    assert "targets met on UAR" in out and "on UF1" in out
    run = json.loads(saved.read_text())
    assert run["preset"] == "realistic" and run["quick"] and set(run["methods"]) == set(realism.METHODS)
    assert all(0.0 <= r["uar"] <= 1.0 and 0.0 <= r["uf1"] <= 1.0 for r in run["methods"].values())
