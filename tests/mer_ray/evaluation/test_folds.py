"""Folds and fold tasks: seeds, inner splits, row selection with masked labels, the Ray-boundary dict form."""

from dataclasses import replace

import numpy as np
import pytest

from mer_ray.evaluation.folds import (
    EVALUATION_PROTOCOLS,
    Fold,
    FoldTask,
    dataset_folds,
    describe_protocol,
    fold_rows,
    fold_seed,
    inner_folds,
    inner_split,
    loso_folds,
    protocol_folds,
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


# ---- cross-dataset protocols ------------------------------------------------------------------------------------

THREE = ("d1", "d2", "d3")


def test_dataset_folds_hold_out_exactly_one_datasets_subjects_and_train_on_the_others():
    data = synthetic_features(n_subjects=6, clips=3, datasets=THREE)
    owner = data.meta.groupby("subject")["dataset"].first()
    folds = dataset_folds(data)
    assert [f.name for f in folds] == list(THREE) and all(f.exclude == () for f in folds)
    for fold in folds:
        assert set(fold.held_out) == set(owner[owner == fold.name].index)
        trained = set(data.subjects) - set(fold.hidden)
        assert trained == set(owner[owner != fold.name].index)  # every subject of the other datasets
    held = [s for f in folds for s in f.held_out]
    assert sorted(held) == sorted(data.subjects)  # every subject held out exactly once


def test_a_test_dataset_is_one_fold_trained_on_the_other_datasets():
    data = synthetic_features(n_subjects=6, clips=3, datasets=THREE)
    [fold] = dataset_folds(data, test_dataset="d2")
    assert fold.name == "d2" and {s.split("/")[0] for s in fold.held_out} == {"d2"}
    assert protocol_folds(data, "lodo", "d2") == [fold]
    assert protocol_folds(data, "loso") == loso_folds(data.subjects)


def test_dataset_folds_refuse_one_dataset_and_an_unknown_test_dataset():
    with pytest.raises(ValueError, match="at least two datasets; these hold one: demo$"):
        dataset_folds(synthetic_features(n_subjects=2, clips=3, datasets=("demo",)))
    data = synthetic_features(n_subjects=6, clips=3, datasets=THREE)
    with pytest.raises(ValueError, match="'smic' is not a dataset of the features; they hold: d1, d2, d3$"):
        dataset_folds(data, test_dataset="smic")
    with pytest.raises(ValueError, match="cannot go with the loso protocol"):
        protocol_folds(data, "loso", "d1")
    with pytest.raises(ValueError, match="unknown evaluation protocol 'lomo'"):
        protocol_folds(data, "lomo")
    assert EVALUATION_PROTOCOLS == ("loso", "lodo")


def test_a_subject_in_two_datasets_cannot_be_held_out_by_dataset():
    data = synthetic_features(n_subjects=4, clips=3, datasets=("d1", "d2"))
    meta = data.meta.copy()
    meta.loc[0, "dataset"] = "d2"  # d1/s00's first clip filed under d2
    with pytest.raises(ValueError, match="more than one dataset"):
        dataset_folds(replace(data, meta=meta))


def test_describe_protocol_names_the_folds():
    assert describe_protocol("lodo", ["samm", "casme2", "smic"]).startswith(
        "leave one dataset out (3 folds: casme2, samm, smic)")
    assert describe_protocol("lodo", ["casme2", "samm", "smic"], "smic").startswith(
        "train on casme2, samm, test on smic")
    loso = describe_protocol("loso", ["casme2"], subjects=26)
    assert loso == "leave one subject out (LOSO: 26 folds, one per subject)"


def test_a_lodo_fold_task_masks_the_held_out_dataset_and_predicts_only_its_clips():
    from mer_ray.methods import run_task
    from search_spaces import get_space

    data = synthetic_features(n_subjects=6, clips=3, size=32, datasets=THREE)
    [fold] = dataset_folds(data, test_dataset="d3")
    # the trainer's row selection refuses the held-out dataset unmasked, and accepts it masked
    with pytest.raises(ValueError, match="must be masked"):
        fold_rows(data, fold.held_out)
    train_rows, test_rows = fold_rows(data.with_masked_labels(list(fold.held_out)), fold.held_out)
    datasets = data.meta["dataset"].to_numpy()
    assert set(datasets[test_rows]) == {"d3"} and "d3" not in set(datasets[train_rows])
    assert len(test_rows) + len(train_rows) == len(data)
    task = FoldTask("c000", fold, parse_config(dict(get_space("probe").fixed)), fold_seed(0, "c000", fold.name))
    result = run_task(task, data, "cpu")
    expected = sorted(data.meta.loc[data.meta["dataset"] == "d3", "sample_id"])
    assert sorted(result.sample_ids) == expected  # every d3 clip, and only d3's
    assert not any(sid.startswith("d3/") for sid in result.train_ids)
