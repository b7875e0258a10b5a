"""``benchmarks/recipe_quality.py`` without Ray: one setting's failure is a recorded skip, not a lost run."""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import recipe_quality  # noqa: E402


def _result(uar: float) -> dict:
    row = {"uar": uar, "uf1": uar, "diff": 0.0, "lo": 0.0, "hi": 0.0, "seconds": 1.0}
    return {"protocol": "grouped 5-fold", "clips": 60, "methods": {"probe": dict(row), "ensemble": dict(row)}}


def test_a_setting_that_fails_is_skipped_and_the_others_are_kept(monkeypatch, tmp_path, capsys):
    def run_setting(setting, seed, methods, args, tmp):
        if setting == "smic":
            raise ValueError("invert_displacement: the field folds")
        return _result(0.7)

    monkeypatch.setattr(recipe_quality, "init_ray", lambda **kwargs: None)
    monkeypatch.setattr(recipe_quality, "run_setting", run_setting)
    saved = tmp_path / "runs.json"
    rc = recipe_quality.main(["--settings", "smic", "easy", "--seeds", "6", "--methods", "probe", "ensemble",
                              "--save", str(saved)])
    out = capsys.readouterr().out
    assert rc == 1
    assert "SKIPPED smic seed 6: ValueError: invert_displacement: the field folds" in out
    assert "| smic | 6 | ValueError: invert_displacement: the field folds |" in out
    assert list(json.loads(saved.read_text())) == ["easy|6"]  # the setting that ran is saved
