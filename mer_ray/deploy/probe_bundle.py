"""Linear-probe bundles of AU detection (``python -m mer_ray.fit --search probe --task au``): one binary probe per AU
(standardised, masked, pooled flow + logistic regression, C chosen per AU on grouped folds of the subjects) fitted
on every coded clip as ``mer_ray.methods.linear.fit_predict_au`` fits a fold's, saved without pickles, read back by
:func:`mer_ray.deploy.bundle_load.load_bundle`.

Layout::

    BUNDLE/bundle.json          "kind": "probe", "task": "au"; the LinearConfig; ``au`` (vocabulary, detected AUs,
                                thresholds, skipped AUs with the reason); per AU its file; preprocessing, features,
                                source, LOSO score, versions; SHA-256 of every file below
    BUNDLE/README.md            the model card
    BUNDLE/probe_AU<k>.npz      AU k's probe: scaler mean / scale, coef, intercept, classes (allow_pickle=False)

Prediction (:meth:`ProbeBundle.predict`): the pooled flow, standardised, ``x @ coef.T + intercept`` per AU, its
logistic function (the probability of presence), present above the AU's threshold.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mer_ray.data.features import FeatureSet
from mer_ray.deploy import au_bundle
from mer_ray.deploy.au_bundle import AuDecision
from mer_ray.deploy.bundle import BundleError
from mer_ray.deploy.bundle_card import card_ending, loso_text, trained_on
from mer_ray.deploy.bundle_info import base_info
from mer_ray.deploy.bundle_save import bundle_preprocess, finish_bundle, staging_folder
from mer_ray.deploy.probe_arrays import AuProbe, ProbeArrays, fit_au_probe
from mer_ray.evaluation.au_task import AuTask
from mer_ray.infra.hashing import file_sha256
from mer_ray.methods.linear import LinearConfig
from preprocessing.annotations.datasets import only_demo

if TYPE_CHECKING:
    from preprocessing.vision.clip import PreprocessConfig

KIND = "probe"


@dataclass
class FittedProbe:
    """An AU probe fitted on every coded clip and what its bundle records."""

    config: LinearConfig
    probe: AuProbe
    au: AuDecision
    scores: np.ndarray  # (N, K) float32 the sklearn pipelines' probabilities of the training clips, NaN: skipped
    seconds: float


def fit_probe(config: LinearConfig, data: FeatureSet, task: AuTask, seed: int) -> FittedProbe:
    """Fit ``config`` per AU of ``task`` on every coded clip of ``data`` (:func:`fit_au_probe`)."""
    start = time.monotonic()
    probe, reference, decision = fit_au_probe(config, data, task, seed)
    return FittedProbe(config, probe, decision, decision.decide(reference)[1], time.monotonic() - start)


@dataclass
class ProbeBundle:
    """A loaded AU probe bundle: call :meth:`predict` on a ``FeatureSet`` made with :attr:`preprocess`."""

    root: Path
    info: dict[str, Any]
    config: LinearConfig
    preprocess: PreprocessConfig
    probe: AuProbe
    au: AuDecision
    task = "au"
    score_kind = au_bundle.SCORE_KIND

    @property
    def labels(self) -> list[str]:
        return list(self.info["labels"])

    def predict(self, features: FeatureSet, device: str = "cpu") -> tuple[np.ndarray, np.ndarray]:
        """``(y_pred (N, K) int64, scores (N, K) float32)``: every AU's probability and presence (``device``
        unused: numpy)."""
        return self.au.decide(self.probe.probabilities(features))


def save_probe(out: str | Path, fitted: FittedProbe, *, features: FeatureSet, seed: int, source: dict[str, Any],
               loso: dict[str, Any] | None, notes: list[str] | None = None) -> Path:
    """Write an AU probe bundle folder (to a temporary sibling first, renamed when complete); arguments as
    :func:`mer_ray.deploy.bundle_save.save_bundle`'s."""
    out, tmp = staging_folder(out)
    preprocess = bundle_preprocess(features)
    arrays = {}
    for name, probe in fitted.probe.probes.items():
        arrays[name] = fitted.probe.file_name("", name)
        np.savez(tmp / arrays[name], **probe.to_arrays())
    info = base_info(KIND, features=features, preprocess=preprocess, seed=seed, source=source, loso=loso,
                     notes=notes, au=fitted.au) | {
        "probe_config": fitted.config.to_dict(),
        "classifier": {"kind": fitted.config.classifier, "scores": au_bundle.SCORE_KIND},
        "arrays": arrays,
        "files": {file: file_sha256(tmp / file) for file in arrays.values()},
        "seconds": fitted.seconds,
    }
    return finish_bundle(tmp, out, info, probe_card)


def probe_card(info: dict[str, Any]) -> str:
    """The AU probe bundle's README.md."""
    feats, c = info["features"], info["probe_config"]
    choice = f"C {c['c']:g}" if c["c"] > 0 else f"C chosen per AU on {c['inner_folds']} grouped folds (macro F1)"
    lines = [
        "# mer-ray model bundle (linear probe, AU detection)",
        "",
        f"{trained_on(info)}.",
        "",
        "## Model",
        "",
        f"- One linear probe per AU: masked ({', '.join(c['channels'])}) flow pooled to {c['pool']}x{c['pool']}, "
        f"standardised, {c['classifier']} ({choice}); the probability of presence is the logistic function of its "
        "decision value.",
        f"- Preprocessing {info['preprocess']['config_hash']} (dlib alignment, masks, TV-L1 flow; the full "
        "configuration is in bundle.json): predict applies exactly this.",
        f"- Trained on features {feats['folder']} (content hash {str(feats['content_hash'])[:16]}), "
        f"protocol {feats['protocol']}.",
        "",
        "## How good it is",
        "",
        f"- {loso_text(info.get('loso'))}.",
        "- The bundle itself is fitted on every subject, so no held-out estimate of THIS model exists: the LOSO "
        "figure describes the configuration.",
    ]
    return card_ending(lines, info, only_demo(feats["datasets"]))


def load_probe(root: Path, info: dict[str, Any], preprocess: PreprocessConfig, au: AuDecision) -> ProbeBundle:
    """The AU probe bundle at ``root`` whose ``bundle.json`` (``info``) passed :func:`load_bundle`'s checks.
    Raises ``BundleError``."""
    try:
        config = LinearConfig.from_dict(info["probe_config"])
        arrays = {name: info["arrays"][name] for name in au.detected}
        probes = {}
        for name, file in arrays.items():
            with np.load(root / file, allow_pickle=False) as stored:
                probes[name] = ProbeArrays.from_arrays(config, dict(stored))
    except (KeyError, TypeError, ValueError, OSError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise BundleError(f"{root}: incompatible bundle: this version cannot read its probe ({first})") from None
    return ProbeBundle(root, info, config, preprocess, AuProbe(config, au.names, probes), au)
