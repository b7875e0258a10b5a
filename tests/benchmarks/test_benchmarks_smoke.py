"""Smoke runs of the Ray benchmarks (``--quick``): they run end to end and print their tables and checks.

Each benchmark runs as a script in a subprocess (they start Ray clusters of their own) with the feature / demo
cache in a temporary folder. No timing is asserted: speed targets are checked by the benchmarks themselves.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BENCHMARKS = REPO / "benchmarks"


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("mer_ray_cache")


def run_benchmark(name: str, cache: Path, *args: str, timeout: int = 400) -> subprocess.CompletedProcess:
    env = {**os.environ, "MER_RAY_CACHE": str(cache), "RAY_AUTH_MODE": "disabled"}
    return subprocess.run([sys.executable, str(BENCHMARKS / name), *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=timeout)


def check_ok(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result.stdout


@pytest.mark.slow
@pytest.mark.ray
def test_pipeline_scaling_quick(cache):
    out = check_ok(run_benchmark("pipeline_scaling.py", cache, "--quick"))
    assert "serial loop vs Ray Data pipeline" in out
    for row in ("| serial, OpenCV", "| Ray Data pipeline |", "| Ray Data pipeline + ray.init |"):
        assert row in out
    assert "9 ok, 0 rejected" in out  # the pipeline really processed the small demo's 9 clips
    assert "per-actor start-up" in out and "goal Ray Data >= 1.8x" in out


@pytest.mark.slow
@pytest.mark.ray
def test_tune_overhead_quick(cache):
    out = check_ok(run_benchmark("tune_overhead.py", cache, "--quick", "--synthetic", "--synthetic-size", "64",
                                 "--no-reuse-experiment"))
    assert "Tune overhead (b)/(a) - 1" in out
    # the three variants ran the same folds with the same seeds: identical predictions is a real check
    rows = [line for line in out.splitlines() if line.startswith("| (a) |") or line.startswith("| (b) |")
            or line.startswith("| (c) |")]
    assert len(rows) == 3, out
    assert all("| yes |" in row for row in rows), rows
    assert "memory of the" in out and "trial processes during (c)" in out


def test_paper_scale_quick_cpu(cache):
    out = check_ok(run_benchmark("paper_scale.py", cache, "--quick"))
    assert "SYNTHETIC" in out  # the quick set is labelled as random arrays
    assert "MEASURED on 1 fold(s)" in out and "EXTRAPOLATED full LOSO on this CPU" in out
    assert "s / pretrain epoch" in out


@pytest.mark.slow
@pytest.mark.ray
def test_paper_scale_quick_tune(cache):
    out = check_ok(run_benchmark("paper_scale.py", cache, "--quick", "--tune"))
    assert "MEASURED full LOSO" in out
    assert "| 6 | 2 |" in out  # all 6 folds of the quick set, 2 trials at a time on 2 CPUs


def test_paper_scale_cuda_missing_is_explained(cache):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present: the measured GPU run is not a smoke test")
    result = run_benchmark("paper_scale.py", cache, "--device", "cuda", timeout=120)
    assert result.returncode != 0
    assert "--device cuda: no CUDA device is usable here" in result.stderr


@pytest.mark.slow
@pytest.mark.ray
def test_peers_quick(cache):
    out = check_ok(run_benchmark("peers.py", cache, "--quick", "--methods", "ststnet", "probe"))
    assert "peers at composite scale: 24 clips, 6 folds" in out
    assert "| ststnet |" in out and "| probe |" in out


@pytest.mark.slow
@pytest.mark.ray
def test_recipe_quality_quick(cache):
    out = check_ok(run_benchmark("recipe_quality.py", cache, "--quick", "--settings", "hard", "easy", "--methods",
                                 "probe", "recommended", timeout=900))
    assert "UAR - probe [paired 95% CI]" in out and "| probe |" in out and "| recommended |" in out
    assert "recommended: shufflenet" in out and "mean weight" in out  # the portfolio's members beside it
    assert "leave one setting out" in out and "issue 24 goals" in out


@pytest.mark.slow
def test_gpu_folds_quick_on_cpu(cache, tmp_path):
    out = check_ok(run_benchmark("gpu_folds.py", cache, "--device", "cpu", "--quick", "--trials-per-gpu", "2",
                                 "--config", "ensemble", "--out", str(tmp_path)))
    assert "MEASURED: 6 LOSO folds on CPU" in out
    assert (tmp_path / "gpu_folds_ensemble_fp32.json").is_file()


def test_gpu_folds_without_a_gpu_says_so(cache):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    result = run_benchmark("gpu_folds.py", cache, timeout=120)
    assert result.returncode == 2 and "no CUDA device is usable here" in result.stderr


@pytest.mark.slow
@pytest.mark.ray
def test_composite_loso_quick(cache):
    """The composite-shaped LOSO's smoke size: a trimmed demo through the real pipeline, then the CLI end to end."""
    out = check_ok(run_benchmark("composite_loso.py", cache, "--quick", "--search", "probe", timeout=600))
    assert "clips of 6 subjects selected" in out and "end to end on" in out and "[--quick: not a figure]" in out
    assert "# LOSO report: search space `probe`" in out


def test_composite_trim_drops_every_second_subjects_last_clip():
    import dataclasses

    sys.path.insert(0, str(BENCHMARKS))
    from composite_loso import trimmed

    @dataclasses.dataclass
    class Sample:
        subject: str
        sample_id: str

    @dataclasses.dataclass
    class Protocol:
        samples: list

    @dataclasses.dataclass
    class Selection:
        protocol: Protocol

    samples = [Sample(f"s{s}", f"s{s}_{c}") for s in range(4) for c in range(3)]
    kept = trimmed(Selection(Protocol(samples))).protocol.samples
    assert len(kept) == 10 and {"s1_2", "s3_2"}.isdisjoint(s.sample_id for s in kept)
    assert len(samples) == 12  # the input selection is left as it was
