"""Scoring and comparing external predictions: STSTNet's published log reproduces its own pooled figures."""

from __future__ import annotations

import ast
import csv
import json
import re
from pathlib import Path

import pytest

from mer_ray.compare import main as compare
from mer_ray.score import main as score


def ststnet_log_to_csv(log: Path, out: Path) -> Path:
    """The official STSTNet log (subject blocks of predicted / ground-truth lists) as a predictions CSV."""
    text = log.read_text()
    blocks = re.findall(r"Subject: (\S+)\s*\nPredicted\s*: (\[.*?\])\s*\nGround Truth: (\[.*?\])", text)
    with out.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["dataset", "subject", "sample", "y_true", "y_pred"])
        for subject, predicted, truth in blocks:
            dataset = "casme2" if subject.startswith("sub") else "smic" if subject.startswith("s") else "samm"
            for i, (p, t) in enumerate(zip(ast.literal_eval(predicted), ast.literal_eval(truth), strict=True)):
                writer.writerow([dataset, subject, f"{dataset}/{subject}/{i}", t, p])
    return out


@pytest.fixture
def ststnet_csv(reference_dir, tmp_path) -> Path:
    return ststnet_log_to_csv(reference_dir / "ststnet_python_logfile.txt", tmp_path / "ststnet.csv")


def test_score_reproduces_ststnets_published_pooled_figures(ststnet_csv, tmp_path, capsys):
    assert score([str(ststnet_csv), "--out", str(tmp_path / "out"), "--boot", "100"]) == 0
    scores = json.loads((tmp_path / "out" / "scores.json").read_text())
    assert scores["n"] == 442 and {scores[f"n_{d}"] for d in ("casme2", "samm", "smic")} == {145, 133, 164}
    assert round(scores["uf1"], 4) == 0.7209 and round(scores["uar"], 4) == 0.7250  # the log's "Final Evaluation"
    for d in ("casme2", "samm", "smic"):
        assert 0 < scores[f"uf1_{d}"] < 1 and 0 < scores[f"uar_{d}"] < 1
    report = (tmp_path / "out" / "report.md").read_text()
    assert "| composite | 442 |" in report and (tmp_path / "out" / "confusion_score_composite.png").is_file()
    assert "composite  UAR 0.7250  UF1 0.7209" in capsys.readouterr().out


def _write(path: Path, rows: list[list], header=("dataset", "subject", "sample", "y_true", "y_pred")) -> Path:
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


@pytest.mark.parametrize("rows,header,message", [
    ([["casme2", "sub01", "a", 0, 1]], ("dataset", "subject", "y_true"), "missing columns ['y_pred']"),
    ([["casme2", "sub01", "a", 0, 1], ["casme2", "sub01", "b", 3, 1]], None, "row 3: y_true='3' is not a label"),
    ([["casme2", "sub01", "a", 0, 1], ["casme2", "sub01", "a", 1, 1]], None, "row 3: clip 'a' appears twice"),
    ([["casme2", "s1", "a", 0, 1], ["smic", "s1", "b", 1, 1]], None, "row 3: subject 's1' appears in datasets"),
])
def test_bad_prediction_files_get_one_line_naming_the_row(tmp_path, capsys, rows, header, message):
    path = _write(tmp_path / "bad.csv", rows, header or ("dataset", "subject", "sample", "y_true", "y_pred"))
    assert score([str(path), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_compare_is_paired_and_refuses_other_clips(ststnet_csv, tmp_path, capsys):
    rows = list(csv.reader(ststnet_csv.open()))[1:]
    perfect = _write(tmp_path / "perfect.csv", [[d, s, c, t, t] for d, s, c, t, _ in rows])
    assert compare([str(perfect), str(ststnet_csv), "--boot", "200"]) == 0
    out = capsys.readouterr().out
    composite = next(line for line in out.splitlines() if line.startswith("composite"))
    assert composite.split()[1] == f"{1 - 0.725:+.4f}"  # perfect minus STSTNet's pooled UAR
    assert compare([str(_write(tmp_path / "fewer.csv", [r[:3] + [r[3], r[4]] for r in rows[1:]])),
                    str(ststnet_csv)]) == 2
    assert "0 only in fewer.csv" in capsys.readouterr().err
