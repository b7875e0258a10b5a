"""The hand-crafted baselines as methods: a full LOSO through the same machinery as every model, honest masking,
and the refusal of features that lack what a method reads, before any fold runs."""


import numpy as np
import pytest

from mer_ray.data.features import FeaturesError
from mer_ray.evaluation.folds import Fold, FoldTask
from mer_ray.evaluation.metrics import score_predictions
from mer_ray.methods import get_method, linear, parse_config, run_task
from mer_ray.search.scheduler import LosoSearch, check_space_inputs, run_serial, space_methods
from search_spaces import SearchSpace, get_space
from tests.mer_ray._synthetic import synthetic_features

BASELINES = ("hoof", "mdmo", "lbptop")


@pytest.fixture(scope="module")
def features():
    return synthetic_features(n_subjects=4, clips=6, size=48, landmarks=True, sequence_frames=6, sequence_size=24)


@pytest.mark.parametrize("name", BASELINES)
def test_a_baseline_runs_a_complete_loso_through_the_search(name, features, tmp_path):
    search = LosoSearch(tmp_path / "run", get_space(name), features, n_trials=1, seed=0, log=lambda _: None)
    run_serial(search)
    predictions = search.all_predictions()
    assert sorted(predictions["sample"]) == sorted(features.meta["sample_id"])  # every clip once, by its own fold
    assert score_predictions(predictions)["uar"] > 0.6  # the synthetic classes are separable (chance 0.33)
    assert search.leaderboard().loc[0, "param_method"] == name


@pytest.mark.parametrize("name", BASELINES)
def test_a_baseline_never_reads_the_held_out_labels(name, features):
    """The fold's predictions do not change when the held-out subject's labels are scrambled."""
    held = features.subjects[1]
    task = FoldTask("c000", Fold(held, (held,)), parse_config(get_space(name).fixed), seed=3)
    first = run_task(task, features)
    scrambled = features.meta.copy()
    rows = scrambled["subject"] == held
    scrambled.loc[rows, "label"] = (scrambled.loc[rows, "label"] + 1) % 3
    second = run_task(task, type(features)(**{**features.__dict__, "meta": scrambled}))
    np.testing.assert_array_equal(first.y_pred, second.y_pred)
    np.testing.assert_allclose(first.scores, second.scores)
    assert held not in {s.rsplit("/", 1)[0] for s in first.train_ids}


def test_the_linear_probe_is_unchanged_by_the_descriptor_cache(features):
    """The probe's fold equals a direct computation on the fold's rows (its behaviour before the cache)."""
    held = features.subjects[0]
    config = parse_config(get_space("probe").fixed)
    result = run_task(FoldTask("c000", Fold(held, (held,)), config, seed=0), features)
    data = features.with_masked_labels(held)
    subjects = data.meta["subject"].to_numpy()
    train, test = np.flatnonzero(subjects != held), np.flatnonzero(subjects == held)
    estimator = linear.fit_linear(config, linear.pooled_flow(config, data, train), data.labels[train], subjects[train])
    np.testing.assert_array_equal(result.y_pred, estimator.predict(linear.pooled_flow(config, data, test)))


def test_methods_declare_the_stored_arrays_they_read():
    assert get_method("mdmo").requires == ("landmarks",)
    assert get_method("lbptop").requires == ("sequence",)
    assert get_method("hoof").requires == () == get_method("linear_probe").requires == get_method("network").requires


def test_lbptop_on_features_without_sequences_is_refused_before_any_fold(tmp_path):
    features = synthetic_features(n_subjects=3, clips=3, size=32, landmarks=True)  # no sequence
    with pytest.raises(FeaturesError) as error:
        LosoSearch(tmp_path / "run", get_space("lbptop"), features, n_trials=1, log=lambda _: None)
    message = str(error.value)
    assert "method 'lbptop' needs the aligned frame sequence onset..offset (`sequence`)" in message
    assert not (tmp_path / "run").exists()  # refused before the run folder, the study or any fold
    LosoSearch(tmp_path / "ok", get_space("mdmo"), features, n_trials=1, log=lambda _: None)  # has landmarks


def test_the_refusal_names_the_preprocessing_command_that_adds_the_sequences():
    features = synthetic_features(n_subjects=3, clips=3, size=32)
    folder = type(features)(**{**features.__dict__, "source": "/data/features/megc2019", "manifest": {
        "protocol": "megc2019", "datasets": {"casme2": "/data/CASME2", "samm": "/data/SAMM"}, "face_size": 224}})
    with pytest.raises(FeaturesError) as error:
        check_space_inputs(get_space("lbptop"), folder)
    assert str(error.value) == (
        "method 'lbptop' needs the aligned frame sequence onset..offset (`sequence`), which the features folder "
        "/data/features/megc2019 does not store (made with --sequence-frames 0, or before frame sequences were "
        "stored); preprocess the clips again into a new folder: `python -m preprocessing run --protocol megc2019 "
        "--dataset casme2=/data/CASME2 --dataset samm=/data/SAMM --sequence-frames 8 --out NEW_FOLDER`, then pass "
        "--features NEW_FOLDER")
    with pytest.raises(FeaturesError, match="method 'mdmo' needs the 68 dlib landmarks"):
        check_space_inputs(get_space("mdmo"), folder)


def test_a_grid_space_is_checked_point_by_point():
    grid = {"peer": ["probe", "lbptop"]}
    recipes = {"probe": get_space("probe").fixed, "lbptop": get_space("lbptop").fixed}
    space = SearchSpace(name="grid", description="a grid of two methods", sampler="grid", grid=grid, trials=2,
                        suggest=lambda trial: dict(recipes[trial.suggest_categorical("peer", grid["peer"])]),
                        suggest_demo=lambda trial: {})
    assert space_methods(space, demo=False) == ["lbptop", "linear_probe"]
    with pytest.raises(FeaturesError, match="'lbptop'"):
        check_space_inputs(space, synthetic_features(n_subjects=2, clips=3, size=32), demo=False)


@pytest.mark.parametrize("classifier", ["linear_svm", "logreg"])
def test_the_row_space_is_an_exact_reparametrisation(classifier, rng):
    """More dimensions than clips: fitting in the span of the training rows gives the same decision function."""
    x = rng.normal(size=(60, 400)) + np.repeat(np.eye(3, 400) * 2, 20, axis=0)
    y, groups = np.repeat([0, 1, 2], 20), np.tile(np.arange(6), 10)
    test = rng.normal(size=(15, 400))
    scores = []
    for row_space in (False, True):
        config = parse_config({**get_space("lbptop").fixed, "classifier": classifier, "c": 0.1, "row_space": row_space})
        scores.append(linear.fit_linear(config, x, y, groups).decision_function(test))
    np.testing.assert_allclose(scores[1], scores[0], atol=1e-3 * np.abs(scores[0]).max())
    assert linear.RowSpace().fit_transform(x[:, :30]).shape == (60, 30)  # no more columns than rows: unchanged
