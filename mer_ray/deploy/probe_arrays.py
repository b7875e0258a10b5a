"""A fitted linear probe (``StandardScaler`` + linear classifier on the pooled flow) as plain arrays, evaluated with
numpy: :class:`ProbeArrays` (one pipeline: the emotion probe of a portfolio bundle, or one AU's detector) and
:class:`AuProbe` (AU detection: one binary probe per AU, as ``mer_ray.methods.linear.fit_predict_au`` fits them).

Stored with ``numpy.savez`` and read with ``allow_pickle=False``: no code is unpickled.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mer_ray.data.features import FeatureSet
from mer_ray.deploy.au_bundle import AuDecision, all_targets
from mer_ray.evaluation.au_task import AuTask
from mer_ray.infra.errors import UsageError
from mer_ray.methods.linear import LinearConfig, pooled_flow
from mer_ray.training.classifiers import scores_by_class


@dataclass
class ProbeArrays:
    """A fitted linear probe (StandardScaler + linear classifier) as numeric arrays."""

    config: LinearConfig
    mean: np.ndarray  # (D,) float64 scaler mean_
    scale: np.ndarray  # (D,) float64 scaler scale_
    coef: np.ndarray  # (K, D) or (1, D) float64
    intercept: np.ndarray  # (K,) or (1,) float64
    classes: np.ndarray  # (K,) int64

    @classmethod
    def from_pipeline(cls, config: LinearConfig, pipeline) -> ProbeArrays:
        scaler, model = pipeline.steps[0][1], pipeline.steps[-1][1]
        if len(pipeline.steps) != 2 or not hasattr(scaler, "scale_"):
            raise UsageError(f"the probe's pipeline {[name for name, _ in pipeline.steps]} is not scaler + linear "
                             "classifier; it cannot be exported")
        return cls(config, np.asarray(scaler.mean_, np.float64), np.asarray(scaler.scale_, np.float64),
                   np.asarray(model.coef_, np.float64), np.asarray(model.intercept_, np.float64).reshape(-1),
                   np.asarray(model.classes_, np.int64))

    def to_arrays(self) -> dict[str, np.ndarray]:
        return {"mean": self.mean, "scale": self.scale, "coef": self.coef, "intercept": self.intercept,
                "classes": self.classes}

    @classmethod
    def from_arrays(cls, config: LinearConfig, arrays: dict[str, np.ndarray]) -> ProbeArrays:
        return cls(config, *(np.asarray(arrays[k]) for k in ("mean", "scale", "coef", "intercept")),
                   np.asarray(arrays["classes"], np.int64))

    def descriptor(self, features: FeatureSet) -> np.ndarray:
        """(N, D) float32 pooled flow of every clip of ``features`` (what the probe reads)."""
        return pooled_flow(self.config, features, np.arange(len(features)))

    def decision(self, x: np.ndarray) -> np.ndarray:
        """(N, K) or (N, 1) decision values of descriptors ``x``, as the pipeline's ``decision_function`` (the
        standardisation in the descriptor's float32, as sklearn's scaler keeps it)."""
        z = (x - self.mean).astype(x.dtype)
        z = (z / self.scale).astype(x.dtype)
        return z @ self.coef.T + self.intercept

    def scores(self, features: FeatureSet) -> np.ndarray:
        """(N, 3) float32 decision values of every clip, columns by class (as ``decision_scores`` of the pipeline)."""
        return scores_by_class(self.decision(self.descriptor(features)), self.classes)

    def present_probability(self, x: np.ndarray) -> np.ndarray:
        """(N,) float64 probability of presence of a binary (0 / 1) probe: the logistic function of its decision
        value (``mer_ray.methods.linear.present_probability``: logistic regression's ``predict_proba``, a linear
        SVM's margin)."""
        return 1.0 / (1.0 + np.exp(-self.decision(x)[:, 0]))


@dataclass
class AuProbe:
    """The linear probe of AU detection: one binary probe per detected AU on the same descriptor, each with its own
    C (``fit_predict_au``'s detectors). ``names``: the AU vocabulary (the columns); an AU without a probe (skipped)
    has NaN probabilities."""

    config: LinearConfig
    names: list[str]
    probes: dict[str, ProbeArrays]

    def probabilities(self, features: FeatureSet) -> np.ndarray:
        """(N, K) float64 probability of presence of every AU for every clip of ``features``."""
        out = np.full((len(features), len(self.names)), np.nan)
        if not self.probes:
            return out
        x = next(iter(self.probes.values())).descriptor(features)
        for k, name in enumerate(self.names):
            if name in self.probes:
                out[:, k] = self.probes[name].present_probability(x)
        return out

    def file_name(self, member: str, au: str) -> str:
        """The npz file of ``au``'s probe in a bundle (``member``: the portfolio member's name, or "")."""
        return f"probe_{member}_{au}.npz" if member else f"probe_{au}.npz"


def fit_au_probe(config: LinearConfig, data: FeatureSet, task: AuTask,
                 seed: int) -> tuple[AuProbe, np.ndarray, AuDecision]:
    """Fit one binary probe per AU of ``task`` on every coded clip of ``data``, as
    ``mer_ray.methods.linear.fit_predict_au`` fits a fold's (C chosen per AU by the macro F1 of grouped folds of
    the subjects; an AU with too few positives skipped). Returns ``(probe, reference, decision)``: ``reference``
    (len(data), K) the sklearn pipelines' own probabilities of every clip (NaN for skipped AUs), what the arrays
    must reproduce; ``decision`` the AUs detected and skipped."""
    from mer_ray.methods.linear import describe, fit_linear, present_probability

    targets = all_targets(task, data)
    decision = AuDecision.of(task, targets)
    x = describe(config, data)
    groups = data.meta["subject"].to_numpy()[targets.rows]
    probes, reference = {}, np.full((len(data), len(task.aus)), np.nan)
    for k in np.flatnonzero(targets.active):
        estimator = fit_linear(config, x[targets.rows], targets.y[:, k].astype(np.int64), groups, seed,
                               scoring="f1_macro")
        probes[decision.names[k]] = ProbeArrays.from_pipeline(config, estimator)
        reference[:, k] = present_probability(estimator, x)
    return AuProbe(config, decision.names, probes), reference, decision
