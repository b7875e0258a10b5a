"""Spot-then-recognise of a finished spotting run: each spotted interval classified from its recording's frames
(the real preprocessing: dlib alignment, TV-L1), then MEGC2023's STRS."""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from mer_ray.spotting.intervals import evaluate_str
from mer_ray.spotting.recognise import main, read_spotted, recognise_spotted, run_data

LABELS = ["negative", "positive", "surprise"]


class AlwaysNegative:
    """A bundle double that answers "negative" for every clip it is given (what is under test is the plumbing
    and the scoring, not a model); it records how many clips reached it."""

    task = "emotion"
    labels = LABELS

    def __init__(self):
        from preprocessing.vision.clip import PreprocessConfig

        self.preprocess = PreprocessConfig()
        self.seen = 0

    def predict(self, features, device="cpu"):
        n = len(features.labels)
        self.seen += n
        return np.zeros(n, dtype=int), np.tile([1.0, 0.0, 0.0], (n, 1))


def spot_run(tmp_path: Path, spotted_kinds: tuple[str, ...] = ("micro", "macro")) -> Path:
    """A finished-run folder on the smoke long-video demo whose spotted intervals are the annotated ones."""
    run = tmp_path / "run"
    run.mkdir()
    (run / "run.json").write_text(json.dumps({"kind": "spot", "search": "baseline", "dataset": "demo", "root": None,
                                              "seed": 0, "demo_size": "smoke"}))
    data = run_data(run)
    with open(run / "intervals.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["video", "kind", "onset", "offset", "score"])
        writer.writeheader()
        for key, items in sorted(data.truth.items()):
            for g in items:
                if g.kind in spotted_kinds:
                    writer.writerow({"video": key, "kind": g.kind, "onset": g.onset, "offset": g.offset, "score": 1})
    (run / "skips.json").write_text("[]")
    return run


def test_perfect_spots_classified_as_one_class_score_what_the_truth_says(tmp_path):
    run = spot_run(tmp_path)
    data = run_data(run)
    bundle = AlwaysNegative()
    labelled, rows = recognise_spotted(bundle, read_spotted(run), data.videos, tmp_path / "work", None)
    assert rows and all(r["status"] == "ok" for r in rows), rows
    assert bundle.seen == len(rows) and {r["class"] for r in rows} == {"negative"}

    truth = {key: data.truth[key] for key in data.videos}
    emotions = Counter(g.emotion for gs in truth.values() for g in gs)
    classes = [c for c in LABELS if c in emotions]
    result = evaluate_str(labelled, truth, emotions=classes)
    assert result.spotting.f1 == 1.0
    assert result.analysis["negative"].tp == emotions["negative"]
    assert result.analysis["negative"].fp == sum(emotions[c] for c in classes if c != "negative")
    for other in (c for c in classes if c != "negative"):
        assert result.analysis[other].tp == 0 and result.analysis[other].fn == emotions[other]
    assert result.strs == pytest.approx(result.f1)  # spotting F1 is 1


def test_micro_only_scores_micro_intervals_and_missed_ones_count(tmp_path):
    run = spot_run(tmp_path, spotted_kinds=("micro",))
    data = run_data(run)
    labelled, rows = recognise_spotted(AlwaysNegative(), read_spotted(run), data.videos, tmp_path / "work",
                                       {"micro"})
    assert {r["kind"] for r in rows} == {"micro"}
    truth = {key: data.truth[key] for key in data.videos}
    micro = evaluate_str(labelled, truth, emotions=["negative", "positive"], kinds={"micro"})
    both = evaluate_str(labelled, truth, emotions=["negative", "positive"])
    assert micro.spotting.f1 == 1.0 and both.spotting.fn == sum(g.kind == "macro" for gs in truth.values()
                                                                 for g in gs)


def test_a_missing_frame_is_not_recognised_and_the_others_are(tmp_path):
    run = spot_run(tmp_path)
    data = run_data(run)
    spotted = read_spotted(run)
    key = sorted(spotted)[0]
    first = spotted[key][0]
    spotted[key][0] = type(first)(10_000, 10_010, first.kind, score=1.0)  # past the video's last frame
    labelled, rows = recognise_spotted(AlwaysNegative(), spotted, data.videos, tmp_path / "work", None)
    bad = [r for r in rows if r["onset"] == 10_000]
    assert len(bad) == 1 and bad[0]["status"] == "not recognised" and "not in the video's folder" in bad[0]["reason"]
    assert labelled[key][0].emotion is None
    assert sum(r["status"] == "ok" for r in rows) == len(rows) - 1


def test_the_cli_refuses_a_folder_that_is_not_a_spotting_run(tmp_path, capsys):
    assert main([str(tmp_path), "--model", str(tmp_path)]) == 2
    assert "no intervals.csv" in capsys.readouterr().err
