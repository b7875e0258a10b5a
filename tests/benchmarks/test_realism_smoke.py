"""Smoke run of ``benchmarks/realism.py --quick`` (a tiny realistic demo, 1 epoch) and its pure helpers."""

from __future__ import annotations

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


@pytest.mark.slow
@pytest.mark.ray
def test_realism_quick(cache):
    out = check_ok(run_benchmark("realism.py", cache, "--preset", "realistic", "--quick", timeout=900))
    assert "realistic preset, generator seed 0 (QUICK: not a figure)" in out
    for method in realism.METHODS:
        assert f"| {method} |" in out
    assert "Kendall tau" in out and "calibration targets" in out and "targets met" in out
