"""``benchmarks/combination_rules.py`` on a saved run made here: every rule refitted on the same members' recorded
out-of-fold scores, judged against both goals; a run without out-of-fold scores is refused."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import combination_rules  # noqa: E402

from tests.mer_ray.methods.test_portfolio_combination import member as probabilities_right  # noqa: E402


def member(y: np.ndarray, right: float, rng: np.random.Generator) -> list:
    return probabilities_right(y, right, rng).tolist()


def saved_run(path: Path, probe_right: float, net_right: float, *, inner: bool = True) -> Path:
    """A 4-fold run of 8 subjects x 12 clips in portfolio_parts.py's --save layout."""
    rng = np.random.default_rng(0)
    subjects = [f"demo/s{k}" for k in range(8)]
    ids = [f"{s}/c{j}" for s in subjects for j in range(12)]
    label = {i: k % 3 for k, i in enumerate(ids)}
    subject = {i: i.rsplit("/", 1)[0] for i in ids}
    predictions = {"sample": [], "subject": [], "y_true": [], "y_pred": [], "fold": []}
    details = {}
    for f in range(4):
        held = [i for i in ids if subject[i] in subjects[2 * f: 2 * f + 2]]
        train = [i for i in ids if i not in held]
        y_held, y_train = np.array([label[i] for i in held]), np.array([label[i] for i in train])
        d = {"portfolio": {"members": ["probe", "shufflenet"]}, "sample_ids": held, "inner_ids": train,
             "member_scores": {"probe": member(y_held, probe_right, rng), "shufflenet": member(y_held, net_right, rng)},
             "inner_scores": {"probe": member(y_train, probe_right, rng),
                              "shufflenet": member(y_train, net_right, rng)},
             "member_seconds": {"probe": 1.0, "shufflenet": 9.0}, "inner_member_seconds": {"probe": 1.0,
                                                                                        "shufflenet": 9.0},
             "_truth": {i: [label[i], subject[i]] for i in train}}
        if not inner:
            del d["inner_scores"]
        details[f"g{f}"] = d
        predictions["sample"] += held
        predictions["subject"] += [subject[i] for i in held]
        predictions["y_true"] += y_held.tolist()
        predictions["y_pred"] += np.asarray(d["member_scores"]["shufflenet"]).argmax(axis=1).tolist()
        predictions["fold"] += [f"g{f}"] * len(held)
    path.write_text(json.dumps({"predictions": predictions, "details": details, "others": {}}))
    return path


def test_every_rule_is_judged_against_both_goals(tmp_path, capsys):
    run = saved_run(tmp_path / "nets_ahead.json", 0.4, 0.9)
    rows = combination_rules.judge(run, [0.6, 0.8], n_boot=200)
    rules = [r["rule"] for r in rows]
    assert rules == ["weights/log_loss", "weights/log_loss fallback probe 0.6", "weights/log_loss fallback probe 0.8",
                     "weights/uar", "select/log_loss", "stack/log_loss"]
    members = rows[0]["members"]
    assert members["shufflenet"] > members["probe"] + 0.3 and rows[0]["best"] == members["shufflenet"]
    current = rows[0]
    assert current["goals"] and current["low"] > 0 and current["uar"] >= current["best"] - 0.02
    for r in rows:
        assert r["goals"] == (r["low"] >= -0.02 and r["uar"] >= r["best"] - 0.02)
    png = tmp_path / "rules.png"
    assert combination_rules.main([str(run), str(saved_run(tmp_path / "tied.json", 0.7, 0.7)), "--boot", "100",
                                   "--plot", str(png)]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    out = capsys.readouterr().out
    assert "nets_ahead.json: probe" in out and "over 2 runs" in out and "weights/log_loss | " in out


def test_a_run_without_out_of_fold_scores_is_refused(tmp_path):
    with pytest.raises(SystemExit, match="no out-of-fold scores recorded"):
        combination_rules.judge(saved_run(tmp_path / "plain.json", 0.5, 0.8, inner=False), [0.8], n_boot=10)
