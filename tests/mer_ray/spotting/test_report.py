"""A spotting run's outputs: the MEGC table, intervals.csv with hit flags, the timeline PNG."""

from __future__ import annotations

import csv

from mer_ray.spotting.intervals import Interval, evaluate_spotting
from mer_ray.spotting.report import format_megc, per_subject, timeline_png, write_intervals_csv

TRUTH = {"s1/a": [Interval(10, 18, "micro"), Interval(100, 140, "macro")], "s2/b": [Interval(50, 58, "micro")]}
SPOTTED = {"s1/a": [Interval(11, 19, "micro", score=0.3), Interval(60, 90, "macro", score=0.5)],
           "s2/b": [Interval(200, 208, "micro", score=0.1)]}
SUBJECT_OF = {"s1/a": "s1", "s2/b": "s2"}


def test_megc_table_and_per_subject_rows():
    text = format_megc(evaluate_spotting(SPOTTED, TRUTH))
    lines = text.splitlines()
    assert lines[0].split() == ["TP", "FP", "FN", "precision", "recall", "F1"]
    assert lines[3].split()[:4] == ["overall", "1", "2", "2"]
    rows = per_subject(SPOTTED, TRUTH, SUBJECT_OF)
    assert [(r["subject"], r["tp"], r["fp"], r["fn"]) for r in rows] == [("s1", 1, 1, 1), ("s2", 0, 1, 1)]


def test_intervals_csv_marks_hits(tmp_path):
    write_intervals_csv(tmp_path / "intervals.csv", SPOTTED, TRUTH, SUBJECT_OF, 30.0)
    rows = list(csv.DictReader(open(tmp_path / "intervals.csv")))
    assert [(r["video"], r["fold"], r["kind"], r["hit"]) for r in rows] == [
        ("s1/a", "s1", "micro", "True"), ("s1/a", "s1", "macro", "False"), ("s2/b", "s2", "micro", "False")]
    assert float(rows[0]["iou"]) == 0.8


def test_timeline_png(tmp_path):
    curves = {"micro score": [None] * 6 + [0.1] * 188 + [None] * 6}
    path = timeline_png(tmp_path / "t" / "a.png", "s1/a", curves, TRUTH["s1/a"], SPOTTED["s1/a"], 30.0)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
