"""`python -m preprocessing run`: smoke path on the demo, idempotent re-run, user errors."""

import pytest

from preprocessing.cli import main

pytestmark = pytest.mark.ray


def test_smoke_run_then_rerun_does_nothing(tmp_path, monkeypatch, capsys, ray_local):
    monkeypatch.setenv("MER_RAY_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "features"
    assert main(["run", "--smoke-test", "--out", str(out)]) == 0
    first = capsys.readouterr().out
    assert "clips processed" in first and (out / "manifest.json").is_file()
    assert main(["run", "--smoke-test", "--out", str(out)]) == 0
    assert "0 (re)computed in this run" in capsys.readouterr().out


def test_unknown_dataset_is_a_one_line_error(tmp_path, capsys):
    assert main(["run", "--dataset", f"casme9={tmp_path}", "--out", str(tmp_path)]) == 2
    assert "unknown dataset 'casme9'" in capsys.readouterr().err


def test_missing_dataset_folder_is_a_one_line_error(tmp_path, capsys):
    assert main(["run", "--dataset", f"casme2={tmp_path / 'nope'}", "--out", str(tmp_path)]) == 2
    assert "does not exist" in capsys.readouterr().err
