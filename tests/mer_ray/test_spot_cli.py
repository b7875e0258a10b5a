"""`python -m mer_ray.spot`: user errors (fast), and the smoke run end to end on a real local Ray cluster with
--resume skipping finished folds (slow)."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mer_ray.spot import main

ROOT = Path(__file__).resolve().parents[2]


def test_unknown_search_is_one_error_line_and_exit_2(capsys):
    assert main(["--search", "nope"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: unknown --search 'nope'") and "baseline, learned" in err[0]


def test_bad_dataset_and_resume_arguments(capsys, tmp_path):
    assert main(["--search", "baseline", "--dataset", "casme3=/nowhere"]) == 2
    assert "expected NAME=DIR" in capsys.readouterr().err
    assert main(["--search", "baseline", "--resume", str(tmp_path)]) == 2
    assert "not a spotting run folder" in capsys.readouterr().err
    (tmp_path / "run.json").write_text(json.dumps({"kind": "spot", "search": "learned"}))
    assert main(["--search", "baseline", "--resume", str(tmp_path)]) == 2
    assert "is a 'learned' run" in capsys.readouterr().err


def _spot(*args: str, cache: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "MER_RAY_CACHE": str(cache), "RAY_AUTH_MODE": "disabled"}
    return subprocess.run([sys.executable, "-m", "mer_ray.spot", *args, "--num-cpus", "2"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=900)


@pytest.mark.slow
@pytest.mark.ray
def test_smoke_run_then_resume_skips_finished_folds(tmp_path):
    cache, out = tmp_path / "cache", tmp_path / "runs"
    done = _spot("--search", "baseline", "--smoke-test", "--out", str(out), cache=cache)
    assert done.returncode == 0, done.stdout + done.stderr
    [run] = [p for p in out.iterdir() if p.is_dir()]
    assert run.name.endswith("-spot-baseline")
    for line in ("[fold 1/3]", "[fold 3/3]", "overall", "report:"):
        assert line in done.stdout, done.stdout
    report = (run / "report.md").read_text()
    assert "## MEGC table" in report and "| overall |" in report and "| micro |" in report
    assert "## Per subject" in report
    rows = list(csv.DictReader(open(run / "intervals.csv")))
    assert rows and {"video", "fold", "kind", "onset", "offset", "hit"} <= set(rows[0])
    pngs = sorted((run / "timelines").glob("*.png"))
    assert len(pngs) == 3 and all(p.read_bytes()[:4] == b"\x89PNG" for p in pngs)
    spec = json.loads((run / "run.json").read_text())
    assert spec["search"] == "baseline" and spec["smoke_test"] and spec["demo_size"] == "smoke"
    folds = sorted((run / "folds").glob("*.json"))
    assert len(folds) == 3
    kept = {p.name: p.stat().st_mtime_ns for p in folds[1:]}
    first = json.loads(folds[0].read_text())
    folds[0].unlink()
    again = _spot("--search", "baseline", "--resume", str(run), cache=cache)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "2 already finished, 1 to run" in again.stdout
    assert "[fold 3/3]" in again.stdout and "[fold 1/3]" not in again.stdout
    assert "scoring" not in again.stdout  # the videos' flow is reused from RUN/scores
    assert {p.name: p.stat().st_mtime_ns for p in sorted((run / "folds").glob("*.json"))[1:]} == kept
    assert json.loads(folds[0].read_text())["intervals"] == first["intervals"]  # the same fold, recomputed
    assert (run / "report.md").read_text().split("Wall time")[0] == report.split("Wall time")[0]


def test_a_saved_summary_of_an_older_version_is_scored_again_not_misread(tmp_path):
    import numpy as np

    from mer_ray.search.run_folder import RunFolder
    from mer_ray.spotting.data import MotionSummary, SpotData
    from mer_ray.spotting.run import SpotRun

    scores = tmp_path / "scores"
    scores.mkdir()
    mags = np.ones((40, 16), np.float32)
    MotionSummary(frame_numbers=np.arange(1, 41), mags={6: mags}).to_npz(scores / "s2__v.npz")  # current version
    with open(scores / "s1__v.npz", "wb") as f:  # version 1: sorted magnitudes only, no version field
        np.savez(f, frame_numbers=np.arange(1, 41), mags_6=mags)
    data = SpotData("casme2", 30.0, tmp_path, {"s1/v": {"subject": "s1", "folder": None, "n_frames": 40},
                                               "s2/v": {"subject": "s2", "folder": None, "n_frames": 40}}, {})
    summaries, skips = SpotRun(None).score_videos(RunFolder(tmp_path), data)
    assert sorted(summaries) == ["s2/v"]  # the stale file is not read; without its frames the video is a skip
    assert [s.video for s in skips] == ["s1/v"] and "video folder not found" in skips[0].reason
