"""Pooled metrics equal sklearn's on the concatenated predictions; per-fold averaging is never used."""

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import accuracy_score, f1_score, recall_score

from mer_ray.evaluation.metrics import bootstrap_ci, confusion, pooled_scores, score_predictions


def sk(y_true, y_pred):
    kw = dict(average="macro", labels=[0, 1, 2], zero_division=0)
    return recall_score(y_true, y_pred, **kw), f1_score(y_true, y_pred, **kw), accuracy_score(y_true, y_pred)


@pytest.mark.parametrize("trial", range(20))
def test_pooled_scores_equal_sklearn(trial):
    rng = np.random.default_rng(trial)
    n = int(rng.integers(1, 60))
    y_true = rng.integers(0, 3, n)
    y_pred = np.where(rng.random(n) < 0.6, y_true, rng.integers(0, 3, n))
    got = pooled_scores(y_true, y_pred)
    uar, uf1, acc = sk(y_true, y_pred)
    assert got["uar"] == pytest.approx(uar)
    assert got["uf1"] == pytest.approx(uf1)
    assert got["accuracy"] == pytest.approx(acc)


def test_folds_with_one_class_are_pooled_not_averaged():
    # Three folds whose subjects each show a single class: per-fold UARs are meaningless (1/3 or 0/3),
    # the pooled score is computed once over the concatenation.
    folds = [
        pd.DataFrame({"dataset": "d", "subject": "d/s1", "y_true": [0, 0, 0], "y_pred": [0, 0, 1]}),
        pd.DataFrame({"dataset": "d", "subject": "d/s2", "y_true": [1, 1], "y_pred": [1, 2]}),
        pd.DataFrame({"dataset": "d", "subject": "d/s3", "y_true": [2], "y_pred": [2]}),
    ]
    pooled = pd.concat(folds, ignore_index=True)
    got = score_predictions(pooled)
    uar, uf1, acc = sk(pooled["y_true"], pooled["y_pred"])
    assert got["uar"] == pytest.approx(uar)
    assert got["uf1"] == pytest.approx(uf1)
    fold_mean = np.mean([sk(f["y_true"], f["y_pred"])[0] for f in folds])
    assert got["uar"] != pytest.approx(fold_mean)


def test_per_dataset_slices_are_slices_of_the_same_predictions():
    rng = np.random.default_rng(1)
    frame = pd.DataFrame({
        "dataset": rng.choice(["casme2", "samm", "smic"], 90),
        "y_true": rng.integers(0, 3, 90),
        "y_pred": rng.integers(0, 3, 90),
    })
    got = score_predictions(frame)
    for name, part in frame.groupby("dataset"):
        uar, uf1, _ = sk(part["y_true"], part["y_pred"])
        assert got[f"uar_{name}"] == pytest.approx(uar)
        assert got[f"uf1_{name}"] == pytest.approx(uf1)
        assert got[f"n_{name}"] == len(part)


def test_missing_class_counts_as_zero_recall():
    got = pooled_scores([0, 0, 1], [0, 0, 1])
    assert got["uar"] == pytest.approx(2 / 3)  # class 2 absent: 0/0 -> 0, like sklearn's zero_division=0


def test_unknown_true_label_is_an_error():
    with pytest.raises(ValueError, match="expected one of"):
        confusion([0, 3], [0, 1])


def test_bootstrap_interval_brackets_the_point_estimate_and_resamples_subjects():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({
        "subject": np.repeat([f"s{i}" for i in range(20)], 5),
        "y_true": rng.integers(0, 3, 100),
    })
    frame["y_pred"] = np.where(rng.random(100) < 0.7, frame["y_true"], rng.integers(0, 3, 100))
    lo, hi = bootstrap_ci(frame, metric="uar", n_boot=300, seed=0)
    point = pooled_scores(frame["y_true"], frame["y_pred"])["uar"]
    assert lo < point < hi
    assert hi - lo > 0.02
    # a single subject: every replicate is that subject, the interval collapses to the point estimate
    one = frame[frame["subject"] == "s0"]
    lo1, hi1 = bootstrap_ci(one, metric="uf1", n_boot=50, seed=0)
    assert lo1 == pytest.approx(hi1)


def test_bootstrap_rejects_unknown_metric():
    with pytest.raises(ValueError, match="metric must be one of"):
        bootstrap_ci(pd.DataFrame({"subject": ["a"], "y_true": [0], "y_pred": [0]}), metric="auc")


def test_paired_bootstrap_resamples_the_same_subjects_and_refuses_other_clips():
    from mer_ray.evaluation.metrics import paired_bootstrap

    rows = [{"sample": f"s{s}/c{c}", "subject": f"s{s}", "y_true": c % 3} for s in range(8) for c in range(6)]
    truth = pd.DataFrame(rows)
    perfect = truth.assign(y_pred=truth["y_true"])
    noisy = truth.assign(y_pred=np.where(np.arange(len(truth)) % 4 == 0, (truth["y_true"] + 1) % 3, truth["y_true"]))
    diff, low, high = paired_bootstrap(perfect, noisy, n_boot=300)
    assert diff > 0 and 0 < low <= diff <= high
    same = paired_bootstrap(noisy, noisy, n_boot=50)
    assert same == (0.0, 0.0, 0.0)  # paired: identical predictions differ by exactly 0 in every replicate
    with pytest.raises(ValueError, match="same clips"):
        paired_bootstrap(perfect.iloc[1:], noisy)
