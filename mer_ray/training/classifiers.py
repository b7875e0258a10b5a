"""The classifier on a trained network: its softmax head, its SVM (hinge) head, or an sklearn SVC on embeddings.

One interface for the trainer: ``head`` says which head the network trains with; ``fit`` sees TRAINING rows only;
``predict`` returns labels and (N, 3) scores for any rows.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np
import torch

from mer_ray.data.inputs import InputBuilder
from mer_ray.evaluation.metrics import CLASSES
from mer_ray.training.config import TrainConfig


@torch.no_grad()
def network_outputs(model: torch.nn.Module, builder: InputBuilder, rows: np.ndarray, device: str, *,
                    embed: bool, mirror: bool = False, batch: int = 64) -> np.ndarray:
    """Eval-mode logits ``(N, C)`` or pooled embeddings ``(N, D)`` of ``rows``, batch by batch.

    ``mirror``: test-time augmentation, the mean of the outputs of each input and of its left-right mirror
    (``TrainConfig.tta_flip``).
    """
    model.eval()
    outs = []
    for start in range(0, len(rows), batch):
        chunk = rows[start : start + batch]
        views = [None, np.ones(len(chunk), dtype=bool)] if mirror else [None]
        out = 0
        for flip in views:
            x = builder.batch(chunk, device, flip)
            out = out + (model.embed(x) if embed else model(x).float().cpu())
        outs.append((out / len(views)).numpy())
    return np.concatenate(outs)


class Classifier(ABC):
    """Turns a trained network into predictions."""

    head: str  # the network head trained: "softmax" (cross-entropy) or "svm" (multi-class hinge)

    def fit(self, model, builder: InputBuilder, rows: np.ndarray, labels: np.ndarray, device: str) -> Classifier:
        """Fit anything beyond the network on TRAINING ``rows`` (nothing for the network's own heads)."""
        return self

    @abstractmethod
    def predict(self, model, builder: InputBuilder, rows: np.ndarray, device: str) -> tuple[np.ndarray, np.ndarray]:
        """``(y_pred (N,) int64, scores (N, 3) float32)`` of ``rows``."""


class HeadClassifier(Classifier):
    """The network's own linear head; scores are the softmax of its logits (margins for the SVM head)."""

    def __init__(self, head: str, mirror: bool = False):
        self.head, self.mirror = head, mirror

    def predict(self, model, builder, rows, device):
        from mer_ray.models.heads import scores_from_logits

        logits = torch.from_numpy(network_outputs(model, builder, rows, device, embed=False, mirror=self.mirror))
        scores = scores_from_logits(logits, self.head).numpy().astype(np.float32)
        return scores.argmax(axis=1).astype(np.int64), scores


class SVCClassifier(Classifier):
    """sklearn ``StandardScaler`` + class-balanced ``SVC`` on the pooled embeddings of a softmax-trained network."""

    head = "softmax"

    def __init__(self, kernel: str = "linear", c: float = 1.0, mirror: bool = False):
        self.kernel = kernel
        self.c = c
        self.mirror = mirror  # fitted and scored on the mean embedding of each input and its mirror

    def fit(self, model, builder, rows, labels, device):
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler
        from sklearn.svm import SVC

        embeddings = network_outputs(model, builder, rows, device, embed=True, mirror=self.mirror)
        scaled_var = StandardScaler().fit_transform(embeddings).var()
        gamma = 1.0 / (embeddings.shape[1] * scaled_var) if scaled_var != 0 else 1.0  # sklearn's "scale", kept
        self.pipeline_ = make_pipeline(  # as a number so that a bundle stores it (ArraySVC)
            StandardScaler(),
            SVC(kernel=self.kernel, C=self.c, gamma=float(gamma), class_weight="balanced",
                decision_function_shape="ovr"),
        )
        self.pipeline_.fit(embeddings, labels)
        return self

    def predict(self, model, builder, rows, device):
        embeddings = network_outputs(model, builder, rows, device, embed=True, mirror=self.mirror)
        return self.pipeline_.predict(embeddings).astype(np.int64), decision_scores(self.pipeline_, embeddings)


def decision_scores(estimator, x: np.ndarray, n_classes: int = len(CLASSES)) -> np.ndarray:
    """(N, n_classes) float32 decision values of a fitted sklearn classifier, columns by class label.

    Classes absent from training keep 0; a two-class decision column d scores the second class d, the first -d.
    """
    decision = np.asarray(estimator.decision_function(x)).reshape(len(x), -1)
    return scores_by_class(decision, np.asarray(estimator.classes_), n_classes)


def scores_by_class(decision: np.ndarray, classes: np.ndarray, n_classes: int = len(CLASSES)) -> np.ndarray:
    """(N, n_classes) float32 scores from (N, K) one-vs-rest decision values of the K ``classes`` (sklearn's order),
    or (N, 1) of a binary classifier: columns by class label, absent classes 0, a binary column d scoring the
    second class d and the first -d (:func:`decision_scores`; ``mer_ray.deploy.svc_arrays.ArraySVC.scores``)."""
    scores = np.zeros((len(decision), n_classes), dtype=np.float32)
    if decision.shape[1] == len(classes):
        scores[:, classes] = decision
    else:
        scores[:, classes[1]] = decision[:, 0]
        scores[:, classes[0]] = -decision[:, 0]
    return scores


def head_kind(classifier: str) -> str:
    """The head a network trains for ``TrainConfig.classifier``: ``"svm"`` (multi-class hinge) for ``"hinge"``,
    else ``"softmax"`` (an ``"svc"`` is fitted on the embeddings of a softmax-trained network)."""
    return "svm" if classifier == "hinge" else "softmax"


def make_classifier(config: TrainConfig) -> Classifier:
    """The classifier ``config.classifier`` names."""
    if config.classifier == "svc":
        return SVCClassifier(config.svc_kernel, config.svc_c, config.tta_flip)
    return HeadClassifier(head_kind(config.classifier), config.tta_flip)
