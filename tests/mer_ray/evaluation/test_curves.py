"""Training curves: every fold's per-epoch losses and inner UAR as Tune intermediate results, in TensorBoard event
files, in RUN/curves.csv and in the report's PNG; never a held-out label or score."""

from __future__ import annotations

import json

import pytest

from mer_ray.evaluation.curves import plot_curves, read_curves
from mer_ray.search.scheduler import LosoSearch
from mer_ray.search.tune import run_tune
from mer_ray.training.trainer import train_fold
from tests.mer_ray import _spaces
from tests.mer_ray._synthetic import synthetic_features

pytestmark = pytest.mark.ray
EPOCHS = 3


def test_the_trainer_calls_back_every_epoch_without_ray():
    from mer_ray.training.config import TrainConfig

    data = synthetic_features(n_subjects=4, clips=3, size=32)
    config = TrainConfig(model="shufflenet_v2", input_size=32, epochs=2, pretrain=False, batch_size=8,
                         classifier="softmax", epoch_selection="inner", inner_fraction=0.34)
    seen = []
    result = train_fold(config, data.with_masked_labels(["d1/s00"]), "d1/s00", seed=0,
                        on_epoch=lambda phase, epoch, values: seen.append((phase, epoch, sorted(values))))
    assert seen[:4] == [("inner_train", 1, ["loss"]), ("inner", 1, ["uar"]), ("inner_train", 2, ["loss"]),
                        ("inner", 2, ["uar"])]
    assert seen[4:] == [("train", e, ["loss"]) for e in range(1, result.epochs + 1)]


@pytest.fixture(scope="module")
def curved_run(tmp_path_factory, ray_local):
    features = synthetic_features(n_subjects=3, clips=3, size=32)
    search = LosoSearch(tmp_path_factory.mktemp("run"), _spaces.SPACE, features, n_trials=1, log=lambda _: None,
                        overrides={"epochs": EPOCHS, "epoch_selection": "inner", "inner_fraction": 0.5,
                                   "input_size": 32})
    run_tune(search)
    return search


def test_every_fold_reports_its_curves_to_the_driver(curved_run):
    curves = read_curves(curved_run.folder)
    assert sorted(curves["subject"].unique()) == ["d1/s00", "d1/s01", "d1/s02"]
    for _, fold in curves.groupby("subject"):
        inner_loss = fold[(fold["phase"] == "inner_train") & (fold["metric"] == "loss")]
        assert list(inner_loss["epoch"]) == list(range(1, EPOCHS + 1))
        assert len(fold[fold["phase"] == "inner"]) == EPOCHS  # inner-validation UAR, every epoch
        assert 1 <= len(fold[fold["phase"] == "train"]) <= EPOCHS  # the epochs the inner split chose


def test_intermediate_results_never_carry_held_out_predictions(curved_run):
    results = [json.loads(line) for path in curved_run.folder.tune_dir.rglob("result.json")
               for line in path.read_text().splitlines() if line.strip()]
    intermediate = [r for r in results if "phase" in r]
    assert intermediate and len(results) > len(intermediate)
    for result in intermediate:
        assert not {"predictions", "scores", "y_true", "y_pred", "sample_ids"} & set(result)
        assert not any(key.startswith(("test_", "held_out")) for key in result)


def test_tensorboard_event_files_hold_the_per_epoch_loss_of_every_fold(curved_run):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    trial_dirs = sorted({path.parent for path in curved_run.folder.tune_dir.rglob("events.out.tfevents.*")})
    assert len(trial_dirs) == 3  # one trial per fold
    for trial_dir in trial_dirs:
        events = EventAccumulator(str(trial_dir)).Reload()
        tags = events.Tags()["scalars"]
        assert "ray/tune/inner_train_loss" in tags and "ray/tune/inner_uar" in tags, tags
        assert len(events.Scalars("ray/tune/inner_train_loss")) == EPOCHS
        assert len(events.Scalars("ray/tune/train_loss")) >= 1


def test_the_curve_png_of_a_configuration(curved_run):
    path = plot_curves(curved_run.folder, "c000")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert plot_curves(curved_run.folder, "c999") is None
