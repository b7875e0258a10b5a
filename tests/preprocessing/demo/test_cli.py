"""`python -m preprocessing demo`: generates, reports what it made, reuses the cache."""

from __future__ import annotations

from preprocessing.cli import main


def test_demo_command_generates_then_reuses(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--small", "--out", str(out)]) == 0
    first = capsys.readouterr().out
    assert str(out) in first and "3 subjects, 9 clips" in first and "generated in" in first
    assert "negative 5" in first  # the most frequent class
    assert main(["demo", "--small", "--out", str(out)]) == 0
    assert "reused" in capsys.readouterr().out
    assert main(["demo", "--small", "--out", str(out), "--force"]) == 0
    assert "generated in" in capsys.readouterr().out


def test_demo_command_refuses_a_foreign_folder(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("mine")
    assert main(["demo", "--small", "--out", str(tmp_path)]) == 2
    assert "refusing to overwrite" in capsys.readouterr().err
