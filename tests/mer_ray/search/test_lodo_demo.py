"""`python -m mer_ray.loso --search recommended --protocol lodo --smoke-test` with no data: the multi-layout demo."""

from __future__ import annotations

import pandas as pd
import pytest

from mer_ray.loso import main

pytestmark = [pytest.mark.ray, pytest.mark.slow]

DATASETS = ("demo-casme2", "demo-casme3", "demo-samm")


def test_lodo_smoke_on_the_demo_predicts_every_clip_once(tmp_path, monkeypatch, ray_local):
    monkeypatch.setenv("MER_RAY_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "runs"
    assert main(["--search", "recommended", "--protocol", "lodo", "--smoke-test", "--out", str(out)]) == 0
    [run_dir] = [p for p in out.iterdir() if p.is_dir()]
    predictions = pd.read_parquet(run_dir / "predictions.parquet")
    assert set(predictions["dataset"]) == set(DATASETS)
    assert not predictions.duplicated(["config_id", "sample"]).any()
    assert len(predictions) == predictions["config_id"].nunique() * 18  # 9 subjects x 2 clips (smoke)
    report = (run_dir / "report.md").read_text()
    assert "## Scores per held-out dataset" in report
    for name in DATASETS:
        assert f"| {name} |" in report
