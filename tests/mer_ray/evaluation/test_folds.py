"""Folds and fold tasks: seeds, inner splits, row selection with masked labels, the Ray-boundary dict form."""

import numpy as np
import pytest

from mer_ray.evaluation.folds import (
    Fold,
    FoldTask,
    fold_rows,
    fold_seed,
    inner_folds,
    inner_split,
    loso_folds,
    subject_filename,
)
from mer_ray.methods import parse_config
from mer_ray.training.config import TrainConfig
from tests.mer_ray._synthetic import synthetic_features


def test_fold_seed_depends_on_config_and_subject():
    # pinned literals: a fold's seed must not change between processes, machines or versions (--resume and
    # the cluster rely on it; Python's salted hash() would break this)
    assert fold_seed(0, "c000", "d/s1") == 3114506109
    assert fold_seed(3, "c002", "casme2/sub01") == 2726999577
    assert len({fold_seed(0, "c000", "d/s1"), fold_seed(0, "c001", "d/s1"), fold_seed(0, "c000", "d/s2"),
                fold_seed(1, "c000", "d/s1")}) == 4


def test_inner_folds_partition_the_other_subjects_and_exclude_the_outer_one():
    subjects = [f"d/s{i}" for i in range(7)]
    folds = inner_folds(subjects, "d/s3", k=3, seed=0)
    held = [s for f in folds for s in f.held_out]
    assert sorted(held) == sorted(set(subjects) - {"d/s3"})
    assert all(f.exclude == ("d/s3",) for f in folds)
    with pytest.raises(ValueError, match="at least 3 subjects"):
        inner_folds(["a", "b"], "a", k=2, seed=0)


def test_loso_folds_hold_out_one_subject_each():
    folds = loso_folds(["a/1", "b/1"])
    assert folds == [Fold("a/1", ("a/1",)), Fold("b/1", ("b/1",))]
    assert Fold("g0", ("x",), ("y",)).hidden == ("x", "y")


def test_fold_rows_need_masked_labels():
    data = synthetic_features(n_subjects=2, clips=3, datasets=("d",))
    subject = data.subjects[0]
    with pytest.raises(ValueError, match="must be masked"):
        fold_rows(data, [subject])
    train_rows, test_rows = fold_rows(data.with_masked_labels(subject), [subject])
    subjects = data.meta["subject"].to_numpy()
    assert set(subjects[test_rows]) == {subject} and subject not in set(subjects[train_rows])
    assert len(train_rows) + len(test_rows) == len(data)


def test_inner_split_holds_back_whole_training_subjects():
    subjects = np.repeat(["s1", "s2", "s3", "s4", "s5"], 3)
    fit, val = inner_split(subjects, np.arange(len(subjects)), 0.4, np.random.default_rng(0))
    assert not set(subjects[fit]) & set(subjects[val]) and len(set(subjects[val])) == 2


def test_task_round_trips_through_its_dict_form():
    task = FoldTask("c001", Fold("g1", ("a", "b"), ("c",)), TrainConfig(lr=3e-4), 12, nested_final=True)
    again = FoldTask.from_dict(task.to_dict(), parse_config)
    assert again == task and again.config.lr == 3e-4


def test_subject_filename_is_readable_and_safe():
    assert subject_filename("casme2/sub01") == "casme2__sub01"
    assert subject_filename("x y/z") == "x_y__z"
