"""The report: Table 2/3-style leaderboard, the optimistic-estimate warning, bootstrap intervals, confusion PNGs."""

import numpy as np
import pandas as pd

from mer_ray.evaluation.metrics import score_predictions
from mer_ray.evaluation.report import compare_with_probe, describe_config, markdown_table, score_table, write_report
from mer_ray.search.run_folder import RunFolder
from mer_ray.search.spec import RunSpec


def _predictions(config_id: str, accuracy: float, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for dataset in ("casme2", "samm"):
        for s in range(4):
            for c in range(6):
                y = c % 3
                rows.append({"config_id": config_id, "dataset": dataset, "subject": f"{dataset}/{s}",
                             "sample": f"{dataset}/{s}/{c}", "y_true": y,
                             "y_pred": y if rng.random() < accuracy else (y + 1) % 3})
    return pd.DataFrame(rows)


def _board(predictions: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for config_id, part in predictions.groupby("config_id"):
        rows.append({"config_id": config_id, "state": "COMPLETE", **score_predictions(part),
                     "param_model": "shufflenet_v2", "param_lr": 0.001, "param_pretrain": True})
    return pd.DataFrame(rows).sort_values("uar", ascending=False).reset_index(drop=True)


def test_table_has_composite_and_per_dataset_columns():
    predictions = pd.concat([_predictions("c000", 0.9, 0), _predictions("c001", 0.5, 1)])
    table = score_table(_board(predictions))
    assert list(table.columns) == ["config", "description", "UAR", "UF1", "Acc", "casme2 UAR", "casme2 UF1",
                                   "samm UAR", "samm UF1"]
    assert table.iloc[0]["config"] == "c000" and table.iloc[0]["UAR"] > table.iloc[1]["UAR"]
    assert describe_config(_board(predictions).iloc[0]) == "shufflenet_v2 pretrained lr=1.0e-03"
    assert markdown_table(table).count("\n") == 3


def test_searched_report_warns_and_links_its_images(tmp_path):
    predictions = pd.concat([_predictions("c000", 0.9, 0), _predictions("c001", 0.5, 1)])
    folder = RunFolder(tmp_path).make()
    spec = RunSpec(space="vit", features="/f", trials=2)
    text = write_report(folder, _board(predictions), predictions, spec, n_boot=50).read_text()
    assert "Optimistic estimate" in text and "95% CI" in text
    for name in ("composite", "casme2", "samm"):
        png = folder.file(f"confusion_c000_{name}.png")
        assert png.read_bytes()[:4] == b"\x89PNG" and png.name in text


def test_fixed_configuration_is_not_called_optimistic(tmp_path):
    predictions = _predictions("c000", 0.8, 2)
    text = write_report(RunFolder(tmp_path).make(), _board(predictions), predictions,
                        RunSpec(space="paper", features="/f", trials=1), n_boot=20).read_text()
    assert "Optimistic" not in text


def test_a_model_that_loses_to_the_probe_is_told_so_plainly(tmp_path):
    model, probe = _predictions("c000", 0.5, 3), _predictions("probe", 0.9, 4)
    comparison = compare_with_probe(model, probe, n_boot=200)
    assert not comparison.beats and comparison.high < 0
    assert "does NOT beat the linear probe" in comparison.sentence("c000")
    text = write_report(RunFolder(tmp_path).make(), _board(model), model, RunSpec(space="vit", features="/f"),
                        probe_board=_board(probe), probe=probe, n_boot=50).read_text()
    assert "does NOT beat the linear probe" in text and "linear probe (reference)" in text
    better = compare_with_probe(probe, model, n_boot=200)
    assert better.beats and better.low > 0 and "interval excludes 0" in better.sentence("x")


def test_the_probe_compared_with_itself_and_whole_floats_read_as_integers():
    from mer_ray.evaluation.report import ProbeComparison

    assert "it is the probe" in ProbeComparison(0.9, 0.9, 0.0, 0.0, 0.0).sentence("c007")
    assert "does NOT beat" in ProbeComparison(0.8, 0.9, -0.1, -0.2, 0.0).sentence("c001")
    row = pd.Series({"param_model": "ststnet", "param_input_size": 28.0, "param_epochs": 200.0})
    assert describe_config(row) == "ststnet input_size=28 epochs=200"


def test_a_portfolio_is_described_by_its_members():
    row = pd.Series({"param_method": "portfolio", "param_members": ["probe", "shufflenet"]})
    assert describe_config(row) == "portfolio: probe + shufflenet"
    row = pd.Series({"param_method": "portfolio", "param_members": '["probe", "sssnet"]'})  # as read from a CSV
    assert describe_config(row) == "portfolio: probe + sssnet"
    row = pd.Series({"param_method": "portfolio", "param_members": "['probe', 'net']"})  # pandas' CSV of a list
    assert describe_config(row) == "portfolio: probe + net"
