"""The classifier interface (network heads, StandardScaler + SVC pipeline) and the method registry."""

import numpy as np
import pytest
from sklearn.svm import LinearSVC

from mer_ray.methods import get_method, list_methods, parse_config
from mer_ray.training.classifiers import HeadClassifier, SVCClassifier, decision_scores, make_classifier
from mer_ray.training.config import TrainConfig


def test_classifier_choice_sets_the_trained_head():
    assert make_classifier(TrainConfig(classifier="hinge")).head == "svm"
    assert make_classifier(TrainConfig(classifier="softmax")).head == "softmax"
    svc = make_classifier(TrainConfig(classifier="svc", svc_c=0.3))
    assert isinstance(svc, SVCClassifier) and svc.head == "softmax" and svc.c == 0.3
    assert isinstance(make_classifier(TrainConfig()), HeadClassifier)


def test_decision_scores_put_each_class_in_its_column():
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(-3, 1, (20, 2)), rng.normal(3, 1, (20, 2))])
    y = np.repeat([0, 2], 20)  # class 1 absent from training
    scores = decision_scores(LinearSVC().fit(x, y), x)
    assert scores.shape == (40, 3) and np.all(scores[:, 1] == 0)
    assert np.all(np.where(scores[:, 2] > scores[:, 0], 2, 0) == y)


def test_parse_config_dispatches_on_method_and_names_unknown_ones():
    assert list_methods() and get_method("network").config_class is TrainConfig
    config = parse_config({"lr": 0.002})
    assert isinstance(config, TrainConfig) and config.method == "network"
    assert parse_config(config.to_dict()) == config
    with pytest.raises(ValueError, match="unknown method 'forest'; valid methods: "):
        parse_config({"method": "forest"})


def test_mirror_tta_scores_the_mean_of_each_input_and_its_mirror():
    import torch

    from mer_ray.data.inputs import InputBuilder
    from mer_ray.training.classifiers import network_outputs
    from mer_ray.training.networks import new_model
    from tests.mer_ray._synthetic import synthetic_features

    data = synthetic_features(n_subjects=2, clips=3, size=16)
    rows = np.arange(len(data))
    builder = InputBuilder(data, "flow", 16, True, "dataset").fit(rows)
    torch.manual_seed(0)
    model = new_model(TrainConfig(model="shufflenet_v2", input_size=16), "flow", "softmax")
    plain = network_outputs(model, builder, rows, "cpu", embed=False)
    model.eval()
    with torch.no_grad():
        mirrored = model(builder.batch(rows, "cpu", np.ones(len(rows), dtype=bool))).numpy()
    np.testing.assert_allclose(network_outputs(model, builder, rows, "cpu", embed=False, mirror=True),
                               (plain + mirrored) / 2, atol=1e-5)
    assert not np.allclose(plain, mirrored)  # the mirror is a different view (the check can fail)
    assert make_classifier(TrainConfig(classifier="softmax", tta_flip=True)).mirror
    assert make_classifier(TrainConfig(classifier="svc", tta_flip=True)).mirror
