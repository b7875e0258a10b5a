"""A model bundle: a trained configuration, written by ``python -m mer_ray.fit``, read by ``python -m mer_ray.predict``.

Layout (nothing in it unpickles code: weights are torch ``state_dict`` tensors read with ``weights_only=True``,
an SVC is numeric arrays read with ``allow_pickle=False``)::

    BUNDLE/bundle.json            format version, TrainConfig, PreprocessConfig + hash, labels, input statistics,
                                  classifier, file checksums, package versions, features content hash, LOSO score
    BUNDLE/README.md              the model card
    BUNDLE/network_<k>.pt         the k-th network's state_dict (k < ensemble)
    BUNDLE/svc_<k>.npz            the k-th network's scaler + SVC as arrays (classifier "svc" only)

A portfolio bundle (``"kind": "portfolio"`` in bundle.json) holds a linear probe as arrays and network bundles of
cross-fitted networks under ``members/``: :mod:`mer_ray.deploy.portfolio_bundle`; a probe bundle (``"kind":
"probe"``, AU detection only) one linear probe per AU: :mod:`mer_ray.deploy.probe_bundle`;
:func:`mer_ray.deploy.bundle_load.load_bundle` reads them all. ``"task"`` is ``"emotion"`` (the three classes;
absent in older bundles) or ``"au"`` (AU detection: one output per AU, ``au`` records the vocabulary, thresholds and
skipped AUs: :mod:`mer_ray.deploy.au_bundle`).

This module holds the format (its constants), :class:`BundleError` and the loaded network bundle (:class:`Bundle`,
its :class:`Member` networks and their prediction). A bundle is written by :mod:`mer_ray.deploy.bundle_save`
(bundle.json's content: :mod:`mer_ray.deploy.bundle_info`; the model card: :mod:`mer_ray.deploy.bundle_card`) and
read back and checked by :func:`mer_ray.deploy.bundle_load.load_bundle`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from mer_ray.data.features import FeatureSet
from mer_ray.data.inputs import InputBuilder
from mer_ray.deploy import au_bundle
from mer_ray.deploy.au_bundle import AuDecision
from mer_ray.deploy.svc_arrays import ArraySVC
from mer_ray.training.classifiers import HeadClassifier, head_kind, network_outputs
from mer_ray.training.config import TrainConfig
from mer_ray.training.ensemble import ensemble_prediction

if TYPE_CHECKING:
    from preprocessing.vision.clip import PreprocessConfig

FORMAT = "mer-ray-bundle"
FORMAT_VERSION = 1
BUNDLE_JSON = "bundle.json"
MODEL_CARD = "README.md"
KINDS = ("network", "portfolio", "probe")  # bundle.json "kind" (absent: "network"; "probe": AU detection only)
SCORE_KINDS = {"softmax": "probability", "hinge": "softmax of the SVM margins (uncalibrated)",
               "svc": "SVC one-vs-rest decision value"}


class BundleError(ValueError):
    """A bundle that cannot be used: missing, damaged, of another format version or incompatible preprocessing."""


@dataclass
class Member:
    """One trained network of a bundle with its input statistics and, for ``"svc"``, its SVC arrays."""

    network: torch.nn.Module
    mean: np.ndarray  # (C,) per-channel input mean (training rows)
    std: np.ndarray  # (C,) per-channel input std
    svc: ArraySVC | None = None


@dataclass
class Bundle:
    """A loaded bundle: call :meth:`predict` on a ``FeatureSet`` made with :attr:`preprocess`."""

    root: Path
    info: dict[str, Any]
    config: TrainConfig
    preprocess: PreprocessConfig
    members: list[Member] = field(default_factory=list)
    au: AuDecision | None = None  # AU detection: one sigmoid output per AU of its vocabulary

    @property
    def labels(self) -> list[str]:
        return list(self.info["labels"])

    @property
    def task(self) -> str:
        return "emotion" if self.au is None else "au"

    @property
    def score_kind(self) -> str:
        return SCORE_KINDS[self.config.classifier] if self.au is None else au_bundle.SCORE_KIND

    def builder(self, features: FeatureSet, member: Member) -> InputBuilder:
        """The model-input builder of ``features`` with the bundle's (training) statistics."""
        builder = InputBuilder(features, self.config.modality, self.config.input_size, self.config.apply_mask,
                               self.config.flow_norm)
        return builder.with_statistics(member.mean, member.std)

    def predict(self, features: FeatureSet, device: str = "cpu") -> tuple[np.ndarray, np.ndarray]:
        """``(y_pred (N,) int64, scores (N, 3) float32)`` of every clip of ``features``, as ``train_fold`` scores
        a held-out clip (an ensemble's scores averaged, its class the arg-max). AU detection: ``(y_pred (N, K),
        scores (N, K))`` as ``train_au_fold`` (the networks' probabilities averaged; :meth:`AuDecision.decide`)."""
        if self.au is not None:
            return self.au.decide(self.au_probabilities(features, self.members, device))
        return ensemble_prediction([self.member_prediction(features, member, device) for member in self.members])

    def au_probabilities(self, features: FeatureSet, members: list[Member], device: str = "cpu") -> np.ndarray:
        """(N, K) float64 mean over ``members`` of their per-AU sigmoid probabilities (AU detection)."""
        from mer_ray.training.prediction import au_probabilities

        rows = np.arange(len(features))
        return np.mean([au_probabilities(self.config, member.network.to(device), self.builder(features, member),
                                         rows, device) for member in members], axis=0)

    def member_prediction(self, features: FeatureSet, member: Member,
                          device: str = "cpu") -> tuple[np.ndarray, np.ndarray]:
        """``(y_pred, scores)`` of every clip of ``features`` by one ``member`` (its SVC, else its network's head)."""
        rows = np.arange(len(features))
        builder = self.builder(features, member)
        network = member.network.to(device)
        if member.svc is None:
            classifier = HeadClassifier(head_kind(self.config.classifier), self.config.tta_flip)
            return classifier.predict(network, builder, rows, device)
        embeddings = network_outputs(network, builder, rows, device, embed=True, mirror=self.config.tta_flip)
        return member.svc.predict(embeddings).astype(np.int64), member.svc.scores(embeddings)
