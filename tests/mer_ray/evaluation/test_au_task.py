"""The AU detection task: vocabulary, targets, the skip rule, and per-AU F1 against sklearn."""

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import f1_score

from mer_ray.evaluation import au_task
from mer_ray.evaluation.au_task import AuTask, AuTaskError


def meta(codes, datasets=None, subjects=None):
    n = len(codes)
    return pd.DataFrame({"dataset": datasets or ["d1"] * n, "subject": subjects or [f"s{i % 3}" for i in range(n)],
                         "action_units": codes})


def test_the_vocabulary_is_the_most_frequent_aus_over_every_clip_ties_to_the_lower_number():
    codes = ["1+2", "R4", "L4+12", "AU12+AU25", "4", "2", "25C", "7", "17", ""]
    # counts: 4 x3, 2 x2, 12 x2, 25 x2, 1, 7, 17 x1
    assert au_task.vocabulary(meta(codes), count=3) == (2, 4, 12)  # 25 loses the tie with 2 and 12
    assert au_task.vocabulary(meta(codes), count=5) == (1, 2, 4, 12, 25)
    assert au_task.vocabulary(meta(codes)) == (1, 2, 4, 7, 12, 17, 25)  # fewer than 12 coded: all of them
    assert au_task.vocabulary(meta(codes), aus=(12, 1)) == (1, 12)
    with pytest.raises(AuTaskError, match="AU 9 is coded on no clip"):
        au_task.vocabulary(meta(codes), aus=(9,))


def test_aus_option_parsing():
    assert au_task.parse_aus("12, 1,AU4,4") == (1, 4, 12)
    assert au_task.parse_aus(None) is None
    with pytest.raises(AuTaskError, match="'x' is not an AU number"):
        au_task.parse_aus("1,x")


def test_targets_are_multi_hot_with_sides_and_intensities_dropped():
    present = au_task.au_matrix(["L4+12C", "", "AU1+R2", "9"], (1, 2, 4, 12))
    np.testing.assert_array_equal(present, [[0, 0, 1, 1], [0, 0, 0, 0], [1, 1, 0, 0], [0, 0, 0, 0]])
    np.testing.assert_array_equal(au_task.coded(["L4+12C", "", "?", "9"]), [True, False, False, True])


def test_a_dataset_without_au_codes_is_refused_naming_it_the_column_and_what_is_needed():
    frame = meta(["1+2", "4", "", ""], datasets=["casme2", "casme2", "smic", "smic"])
    with pytest.raises(AuTaskError) as err:
        au_task.check_au_codes(frame)
    message = str(err.value)
    assert "dataset 'smic' (2 clips) has no action-unit codes" in message
    assert "`action_units` column (the coding sheet's `Action Units` column" in message
    assert "AU detection needs FACS codes per clip" in message and "--subset casme2" in message
    au_task.check_au_codes(frame[frame["dataset"] == "casme2"])  # fine without it


def test_fold_targets_read_training_rows_only_skip_rare_aus_and_refuse_visible_held_out_codes():
    task = AuTask((1, 4, 12), min_positives=3)
    codes = ["1+4", "1+4", "1+12", "4", "4+12", "", "2", "2", "2", "1", "1"]
    frame = meta(codes)
    train, hidden = np.arange(9), np.array([9, 10])
    with pytest.raises(ValueError, match="AU codes of held-out subject"):
        au_task.fold_targets(task, frame, train, hidden)
    frame.loc[hidden, "action_units"] = ""  # masked, as with_masked_labels does
    targets = au_task.fold_targets(task, frame, train, hidden)
    np.testing.assert_array_equal(targets.rows, [0, 1, 2, 3, 4, 6, 7, 8])  # the uncoded training clip is left out
    np.testing.assert_array_equal(targets.active, [True, True, False])  # AU12: 2 positives < 3
    assert targets.skipped == {"AU12": "2 positive training clips < 3"}
    assert targets.record()["positives"] == [3, 4, 2]


def random_predictions(rng, n=60, k=4, skip_folds=None):
    subjects = [f"s{i % 6}" for i in range(n)]
    y_true = (rng.random((n, k)) < [0.1, 0.3, 0.5, 0.02]).astype(int)
    y_pred = (rng.random((n, k)) < 0.35).astype(int)
    for subject, au in (skip_folds or []):  # AU `au` skipped in subject's fold
        y_pred[[i for i, s in enumerate(subjects) if s == subject], au] = au_task.SKIPPED
    return pd.DataFrame({"dataset": ["a" if i % 6 < 3 else "b" for i in range(n)], "subject": subjects,
                         "fold": subjects, "sample": [f"x{i}" for i in range(n)], "y_true": list(y_true),
                         "y_pred": list(y_pred)}), y_true, y_pred


def test_per_au_f1_equals_sklearn_on_the_rows_that_scored_each_au(rng):
    task = AuTask((1, 2, 4, 12))
    frame, y_true, y_pred = random_predictions(rng, skip_folds=[("s0", 0), ("s1", 0), ("s2", 2)])
    scores = au_task.au_scores(frame, task)
    macro, binary = [], []
    for k, name in enumerate(task.names):
        rows = y_pred[:, k] != au_task.SKIPPED
        m = f1_score(y_true[rows, k], y_pred[rows, k], average="macro", labels=[0, 1], zero_division=0)
        b = f1_score(y_true[rows, k], y_pred[rows, k], zero_division=0)
        assert scores[f"f1_macro_{name}"] == pytest.approx(m)
        assert scores[f"f1_binary_{name}"] == pytest.approx(b)
        macro.append(m)
        binary.append(b)
    assert scores["f1_macro"] == pytest.approx(np.mean(macro))
    assert scores["f1_binary"] == pytest.approx(np.mean(binary))
    part = frame[frame["dataset"] == "b"]
    yt, yp = au_task.stacked(part["y_true"]), au_task.stacked(part["y_pred"])
    expected = np.mean([f1_score(yt[:, k][yp[:, k] >= 0], yp[:, k][yp[:, k] >= 0], average="macro", labels=[0, 1],
                                 zero_division=0) for k in range(4)])
    assert scores["f1_macro_b"] == pytest.approx(expected) and scores["n_b"] == len(part)


def test_a_skipped_au_leaves_its_pooled_f1_instead_of_scoring_zero(rng):
    task = AuTask((1, 2, 4, 12))
    frame, y_true, y_pred = random_predictions(rng, skip_folds=[(f"s{i}", 3) for i in range(6)])
    scores = au_task.au_scores(frame, task)
    assert np.isnan(scores["f1_macro_AU12"])  # skipped in every fold: no score at all
    assert scores["f1_macro"] == pytest.approx(np.mean([scores[f"f1_macro_AU{a}"] for a in (1, 2, 4)]))
    table = au_task.per_au_table(frame, task).set_index("AU")
    assert table.loc["AU12", "folds skipped"] == "6/6" and table.loc["AU1", "folds skipped"] == "0/6"


def test_decide_thresholds_at_one_half_and_marks_skipped_aus():
    y_pred, scores = au_task.decide(np.array([[0.6, 0.5, 0.9], [0.1, 0.7, 0.2]]), np.array([True, True, False]))
    np.testing.assert_array_equal(y_pred, [[1, 0, -1], [0, 1, -1]])
    assert np.isnan(scores[:, 2]).all() and scores[0, 0] == pytest.approx(0.6)


def test_the_paired_bootstrap_of_identical_predictions_is_zero_and_of_others_brackets_the_difference(rng):
    frame, *_ = random_predictions(rng)
    assert au_task.paired_bootstrap(frame, frame, n_boot=50) == (0.0, 0.0, 0.0)
    other, *_ = random_predictions(np.random.default_rng(7))
    other = other.assign(y_true=frame["y_true"])
    diff, low, high = au_task.paired_bootstrap(frame, other, n_boot=200)
    task = AuTask((1, 2, 4, 12))
    mine, theirs = au_task.au_scores(frame, task), au_task.au_scores(other, task)
    assert diff == pytest.approx(mine["f1_macro"] - theirs["f1_macro"])
    assert low <= diff <= high
    low, high = au_task.bootstrap_ci(frame, n_boot=200)
    assert low <= au_task.au_scores(frame, task)["f1_macro"] <= high
    with pytest.raises(ValueError, match="same clips"):
        au_task.paired_bootstrap(frame, other.iloc[1:], n_boot=10)


def test_the_task_travels_with_the_fold_task():
    from mer_ray.evaluation.folds import Fold, FoldTask
    from mer_ray.methods import parse_config

    task = FoldTask("c000", Fold("s1", ("s1",)), parse_config({"method": "linear_probe"}), 5,
                    au=AuTask((1, 4), min_positives=2))
    back = FoldTask.from_dict(task.to_dict(), parse_config)
    assert back.au == task.au
    emotion = FoldTask("c000", Fold("s1", ("s1",)), parse_config({"method": "linear_probe"}), 5)
    assert "au" not in emotion.to_dict() and FoldTask.from_dict(emotion.to_dict(), parse_config).au is None
