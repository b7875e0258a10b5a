"""The report of an AU detection run: per-AU table with the probe beside it, rows per (held-out) dataset, skips."""

import numpy as np
import pandas as pd

from mer_ray.evaluation import au_task
from mer_ray.evaluation.au_report import au_table, dataset_section, write_au_report
from mer_ray.search.run_folder import RunFolder
from mer_ray.search.spec import RunSpec


def predictions(rng, config_id="c000"):
    rows = []
    for dataset in ("casme2", "samm"):
        for s in range(3):
            for c in range(4):
                y_pred = (rng.random(3) < 0.5).astype(int).tolist()
                if dataset == "samm":
                    y_pred[2] = au_task.SKIPPED  # AU12 skipped in the samm fold
                rows.append({"config_id": config_id, "dataset": dataset, "subject": f"{dataset}/s{s}",
                             "fold": dataset, "sample": f"{dataset}/s{s}/c{c}",
                             "y_true": (rng.random(3) < 0.4).astype(int).tolist(), "y_pred": y_pred,
                             "scores": [0.5] * 3})
    return pd.DataFrame(rows)


def test_a_cross_dataset_au_report_has_the_per_au_table_the_probe_and_a_row_per_held_out_dataset(tmp_path, rng):
    spec = RunSpec(space="recommended", features="/f", protocol="lodo", datasets=["casme2", "samm"], task="au",
                   aus=[1, 4, 12], objective="f1_macro", subjects=6)
    task = spec.au_task()
    frame = predictions(rng)
    probe = predictions(rng, "c000").assign(y_true=frame["y_true"])
    folder = RunFolder(tmp_path / "run").make()
    folder.write_fold_details({"au": {"skipped": {"AU12": "1 positive training clips < 3"}}}, "c000", "samm")
    folder.write_fold(frame[frame["fold"] == "samm"], "c000", "samm")
    scores = au_task.au_scores(frame, task)
    board = pd.DataFrame([{"config_id": "c000", "state": "COMPLETE", "param_method": "portfolio", **scores}])
    assert list(au_table(board).columns[:4]) == ["config", "description", "F1 macro", "F1 binary"]
    text = write_au_report(folder, board, frame, spec, probe=probe, n_boot=50).read_text()
    assert "Cross-dataset report (AU detection)" in text and "3 AUs (AU1, AU4, AU12)" in text
    assert "| AU12 | " in text and " | 1/2 | " in text  # skipped in one of the two folds
    assert f"| **mean** | | **{scores['f1_macro']:.4f}** |" in text
    assert "## Scores per held-out dataset" in text and "| samm | 12 |" in text and "| casme2 | 12 |" in text
    assert "| samm | AU12 | 1 positive training clips < 3 |" in text
    assert "## Against the linear probe" in text and "paired 95% CI" in text
    assert not np.isnan(scores["f1_macro_samm"])


def test_one_dataset_gets_the_composite_row_only(rng):
    frame = predictions(rng)
    one = frame[frame["dataset"] == "casme2"]
    rows = [line for line in dataset_section(one, None, lodo=False, n_boot=50, seed=0)[2:]]
    assert [row.split("|")[1].strip() for row in rows] == ["composite"]
    both = dataset_section(frame, None, lodo=True, n_boot=50, seed=0)[2:]
    assert [row.split("|")[1].strip() for row in both] == ["composite", "casme2", "samm"]
