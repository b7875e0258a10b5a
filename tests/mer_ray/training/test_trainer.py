"""The fold trainer: honest by construction (masked labels, no held-out data in any training step), seeded."""

import numpy as np
import pytest

from mer_ray.data.features import MASKED_LABEL
from mer_ray.training.config import TrainConfig
from mer_ray.training.trainer import train_fold
from tests.mer_ray._synthetic import synthetic_features

TINY = dict(model="shufflenet_v2", input_size=64, epochs=2, pretrain_epochs=1, batch_size=8)


@pytest.fixture(scope="module")
def data():
    return synthetic_features()


def run(data, subject="d1/s00", seed=1, **overrides):
    config = TrainConfig(**{**TINY, **overrides})
    return train_fold(config, data.with_masked_labels(subject), subject, seed, device="cpu")


def test_unmasked_held_out_labels_are_refused(data):
    with pytest.raises(ValueError, match="must be masked before training"):
        train_fold(TrainConfig(**TINY), data, "d1/s00", 0)


def test_masking_only_touches_the_held_out_subject(data):
    masked = data.with_masked_labels("d1/s01")
    held = masked.meta["subject"] == "d1/s01"
    assert (masked.labels[held] == MASKED_LABEL).all()
    assert (masked.labels[~held] == data.labels[~held]).all()
    assert (data.labels >= 0).all()  # the original is untouched


def test_predicts_only_the_held_out_subject_and_trains_on_the_others(data):
    result = run(data)
    held = data.meta.loc[data.meta["subject"] == "d1/s00", "sample_id"].tolist()
    assert result.sample_ids == held
    assert not set(result.train_ids) & set(held)
    assert len(result.train_ids) == len(data) - len(held)
    assert result.scores.shape == (len(held), 3)
    assert np.isin(result.y_pred, [0, 1, 2]).all()


@pytest.mark.parametrize("overrides", [{}, {"classifier": "svc"}, {"epoch_selection": "inner", "epochs": 2}])
def test_held_out_features_never_influence_training(data, overrides):
    """Scrambling the held-out subject's inputs leaves the trained weights bit-identical (normalisation,
    balancing, augmentation, pretraining and epoch choice never read them)."""
    base = run(data, **overrides)
    scrambled = data.subset(np.arange(len(data)))
    held = (scrambled.meta["subject"] == "d1/s00").to_numpy()
    scrambled.flow[held] = scrambled.flow[held] * 50 + 7
    scrambled.apex_face[held] = 255 - scrambled.apex_face[held]
    again = run(scrambled, **overrides)
    assert again.model_digest == base.model_digest
    # ...whereas changing a TRAINING subject's inputs does change the weights (the check can fail).
    other = (scrambled.meta["subject"] == "d1/s01").to_numpy()
    scrambled.flow[other] = scrambled.flow[other] * 50 + 7
    assert run(scrambled, **overrides).model_digest != base.model_digest


def test_same_seed_reruns_identically_and_another_seed_differs(data):
    a, b = run(data, seed=3), run(data, seed=3)
    assert a.model_digest == b.model_digest
    np.testing.assert_array_equal(a.scores, b.scores)
    assert run(data, seed=4).model_digest != a.model_digest


def test_inner_epoch_selection_picks_an_epoch_from_the_training_subjects(data):
    result = run(data, epoch_selection="inner", epochs=3)
    assert 1 <= result.epochs <= 3
    assert len(result.history["inner_uar"]) == 3


def test_hinge_apex_and_no_pretraining_run(data):
    result = run(data, classifier="hinge", modality="apex", pretrain=True)
    assert result.scores.shape[1] == 3
    result = run(data, classifier="softmax", pretrain=False)
    assert "pretrain_loss" not in result.history


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"classifier": "knn"}, r"classifier='knn': expected one of \['softmax', 'hinge', 'svc'\]"),
        ({"epoch_selection": "best"}, r"epoch_selection='best': expected one of \['fixed', 'inner'\]"),
        ({"modality": "rgb"}, r"modality='rgb': expected one of \['flow', 'apex'\]"),
        ({"epochs": 0}, "epochs=0: expected an integer >= 1"),
        ({"colour": 1}, "unknown training parameters"),
    ],
)
def test_bad_config_values_are_named(values, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig.from_dict(values)


def test_learns_a_separable_problem(data):
    """Pooled over all folds, a separable synthetic set is learnt well above chance."""
    big = synthetic_features(n_subjects=4, clips=9, seed=1)
    y_true, y_pred = [], []
    for subject in big.subjects:
        result = train_fold(TrainConfig(**{**TINY, "epochs": 6, "pretrain": False, "classifier": "softmax"}),
                            big.with_masked_labels(subject), subject, 0, device="cpu")
        y_pred += result.y_pred.tolist()
        y_true += big.labels[big.meta["subject"] == subject].tolist()
    from mer_ray.evaluation.metrics import pooled_scores

    assert pooled_scores(y_true, y_pred)["uar"] > 0.6


def test_saved_pretraining_is_reused_per_held_out_subject(data, tmp_path):
    saved = run(data, save_pretrained=str(tmp_path))
    assert (tmp_path / "d1__s00.pt").is_file()
    reused = run(data, pretrained_from=str(tmp_path))
    assert "pretrain_loss" not in reused.history  # initialised from the file, not pretrained again
    assert reused.model_digest == saved.model_digest  # same pretraining, same fine-tuning seed
    assert run(data, pretrain=False).model_digest != saved.model_digest


def test_saved_pretraining_of_another_fold_is_refused(data, tmp_path):
    from mer_ray.training.pretraining import PretrainedError

    run(data, subject="d1/s00", save_pretrained=str(tmp_path))
    with pytest.raises(PretrainedError, match="no pretraining that holds out 'd1/s01'"):
        run(data, subject="d1/s01", pretrained_from=str(tmp_path))
    (tmp_path / "d1__s00.pt").rename(tmp_path / "d1__s01.pt")  # a file holding out s00, renamed to look like s01
    with pytest.raises(PretrainedError, match="may have seen this fold's test subject"):
        run(data, subject="d1/s01", pretrained_from=str(tmp_path))


def test_saved_pretraining_of_another_architecture_is_refused(data, tmp_path):
    from mer_ray.training.pretraining import PretrainedError

    run(data, save_pretrained=str(tmp_path))
    with pytest.raises(PretrainedError, match="input_size=64"):
        run(data, pretrained_from=str(tmp_path), input_size=96)


def test_augmented_mixup_cosine_recipe_runs_and_reruns_identically(data):
    recipe = dict(pretrain=False, classifier="softmax", input_size=32, flow_norm="clip", aug_rotate=10.0,
                  aug_scale=0.1, aug_translate=0.05, aug_magnitude=0.2, mixup=0.4, label_smoothing=0.1,
                  lr_schedule="cosine", weight_decay=1e-4, l2=0.0, model_options={"width": 0.5, "stem": "small"})
    a, b = run(data, **recipe), run(data, **recipe)
    assert a.model_digest == b.model_digest and len(a.history["train_loss"]) == 2
    assert run(data, **{**recipe, "aug_rotate": 0.0}).model_digest != a.model_digest


def test_mixup_with_a_hinge_head_is_refused():
    with pytest.raises(ValueError, match="need a softmax-trained network"):
        TrainConfig(classifier="hinge", mixup=0.2)


def test_device_resident_batches_equal_streamed_ones(data, monkeypatch):
    """The resident path (inputs built once on the device) trains exactly like the per-batch one on a CPU."""
    import torch

    from mer_ray.data.augment import FlowAugment
    from mer_ray.data.inputs import InputBuilder
    from mer_ray.training.batches import BatchSource

    builder = InputBuilder(data, "flow", 32).fit(np.arange(len(data)))
    rows, flips = np.arange(10), np.arange(10) % 2 == 0
    labels = data.labels[rows]
    resident = BatchSource(builder, rows, flips, labels, "cpu")
    streamed = BatchSource(builder, rows, flips, labels, "cpu")
    streamed.resident = False
    idx = np.array([3, 1, 8, 0])
    augment = FlowAugment(rotate_deg=10, scale=0.1, magnitude=0.2)
    for aug in (None, augment):
        a = resident(idx, aug, torch.Generator().manual_seed(5))
        b = streamed(idx, aug, torch.Generator().manual_seed(5))
        assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    recipe = dict(pretrain=False, classifier="softmax", input_size=32, aug_rotate=5.0)
    base = run(data, **recipe)
    original = BatchSource.__init__

    def streaming(self, *args, **kwargs):
        original(self, *args, **kwargs)
        self.resident = False

    monkeypatch.setattr(BatchSource, "__init__", streaming)
    assert run(data, **recipe).model_digest == base.model_digest


def test_an_ensemble_averages_the_scores_of_networks_from_other_seeds(data):
    recipe = dict(pretrain=False, classifier="softmax", input_size=32, epochs=1, l2=0.0,
                  model_options={"width": 0.5, "stem": "small", "repeats": [1, 1, 1]})
    one, three = run(data, **recipe), run(data, **recipe, ensemble=3)
    assert one.model_digest == three.model_digest  # the first member is the single network
    assert not np.allclose(one.scores, three.scores)  # the other members moved the average
    assert np.array_equal(three.y_pred, three.scores.argmax(axis=1))
    with pytest.raises(ValueError, match="ensemble"):
        TrainConfig(ensemble=0)


def test_the_linear_path_puts_the_pooled_input_beside_the_learnt_features():
    import torch

    from mer_ray.models import create_model

    options = dict(num_classes=3, in_chans=3, act="leaky_relu", drop_rate=0.0, head="softmax", width=0.5,
                   stem="small", repeats=[1, 1, 1], conv5=64, pool="grid", grid=2)
    plain, wide = create_model("shufflenet_v2", **options), create_model("shufflenet_v2", **options, skip=4)
    assert wide.num_features == plain.num_features + 3 * 4 * 4
    x = torch.randn(2, 3, 16, 16)
    tail = wide.eval().forward_features(x)[:, plain.num_features:]
    assert torch.allclose(tail, torch.nn.functional.avg_pool2d(x, 4).flatten(1))


def test_masking_hides_the_sheet_words_for_the_label_too(data):
    masked = data.with_masked_labels("d1/s01")
    held = (masked.meta["subject"] == "d1/s01").to_numpy()
    for column in ("emotion", "action_units"):
        assert (masked.meta.loc[held, column] == "").all()
        assert (masked.meta.loc[~held, column] == data.meta.loc[~held, column]).all()


def test_the_auxiliary_au_loss_trains_on_training_codes_only(data):
    plain = run(data, au_weight=0.0, classifier="softmax")
    with_au = run(data, au_weight=1.0, classifier="softmax")
    assert with_au.model_digest != plain.model_digest  # the AU head's gradient reaches the network
    # the held-out subject's codes are never read: changing them changes nothing
    changed = data.subset(np.arange(len(data)))
    held = (changed.meta["subject"] == "d1/s00").to_numpy()
    changed.meta.loc[held, "action_units"] = "9+10+25"
    assert run(changed, au_weight=1.0, classifier="softmax").model_digest == with_au.model_digest
    # with no codes at all the loss is off (a log line), and the training is the plain one
    uncoded = data.subset(np.arange(len(data)))
    uncoded.meta["action_units"] = ""
    lines = []
    config = TrainConfig(**{**TINY, "au_weight": 1.0, "classifier": "softmax"})
    result = train_fold(config, uncoded.with_masked_labels("d1/s00"), "d1/s00", 1, device="cpu", log=lines.append)
    assert result.model_digest == plain.model_digest
    assert any("auxiliary AU loss off" in line for line in lines)


def test_the_au_loss_needs_a_softmax_trained_network():
    with pytest.raises(ValueError, match="au_weight"):
        TrainConfig(**TINY, au_weight=1.0, classifier="hinge")
