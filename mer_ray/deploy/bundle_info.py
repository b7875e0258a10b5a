"""The content of a network bundle's ``bundle.json`` (:mod:`mer_ray.deploy.bundle`, its layout): what every kind of
bundle records (format, kind, task, labels, seed, preprocessing, features, source, LOSO score, notes, package
versions; :func:`base_info`, shared by the portfolio and probe bundles) and what a network bundle adds
(:func:`bundle_info`).
"""

from __future__ import annotations

import platform
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from mer_ray.data.features import FeatureSet
from mer_ray.deploy import au_bundle
from mer_ray.deploy.au_bundle import AuDecision
from mer_ray.deploy.bundle import FORMAT, FORMAT_VERSION, SCORE_KINDS
from mer_ray.evaluation.metrics import CLASS_NAMES
from mer_ray.training.config import TrainConfig

if TYPE_CHECKING:
    from preprocessing.vision.clip import PreprocessConfig


def package_versions() -> dict[str, str]:
    """Versions of what a bundle's numbers depend on (training side; the features' own are in their manifest)."""
    from importlib import metadata

    import sklearn

    def version(name: str) -> str:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return "unknown"

    return {"mer-ray": version("mer-ray"), "python": platform.python_version(), "torch": torch.__version__,
            "numpy": np.__version__, "scikit-learn": sklearn.__version__}


def bundle_info(*, config: TrainConfig, features: FeatureSet, preprocess: PreprocessConfig,
                member_info: list[dict[str, Any]], files: dict[str, str], epochs: int, seed: int,
                source: dict[str, Any], loso: dict[str, Any] | None, notes: list[str] | None,
                history: dict[str, list[float]] | None, au: AuDecision | None = None) -> dict[str, Any]:
    """The content of bundle.json (arguments as :func:`mer_ray.deploy.bundle_save.save_bundle`'s, plus what
    :func:`mer_ray.deploy.bundle_save.write_members` wrote)."""
    scores = SCORE_KINDS[config.classifier] if au is None else au_bundle.SCORE_KIND
    return base_info("network", features=features, preprocess=preprocess, seed=seed, source=source, loso=loso,
                     notes=notes, au=au) | {
        "train_config": config.to_dict(),
        "epochs_used": int(epochs),
        "epoch_selection": config.epoch_selection,
        "inputs": {"modality": config.modality, "size": config.input_size, "apply_mask": config.apply_mask,
                   "flow_norm": config.flow_norm, "statistics": "per-channel mean / std over every training clip"},
        "classifier": {"kind": config.classifier, "scores": scores},
        "members": member_info,
        "files": files,
        "history": {k: [float(x) for x in v] for k, v in (history or {}).items()},
    }


def base_info(kind: str, *, features: FeatureSet, preprocess: PreprocessConfig, seed: int, source: dict[str, Any],
              loso: dict[str, Any] | None, notes: list[str] | None, au: AuDecision | None) -> dict[str, Any]:
    """What every kind of bundle.json holds: format, kind, task, labels (AU detection: the AU names, and ``au``),
    seed, preprocessing, features, source, LOSO score, notes, package versions."""
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "kind": kind,
        "task": "emotion" if au is None else "au",
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "labels": list(CLASS_NAMES) if au is None else au.names,
        **({} if au is None else {"au": au.record()}),
        "seed": int(seed),
        "preprocess": {"config": preprocess.to_dict(), "config_hash": preprocess.config_hash()},
        "features": features_record(features),
        "source": source,
        "loso": loso,
        "notes": list(notes or []),
        "versions": {**package_versions(), "preprocessing": (features.manifest or {}).get("versions", {})},
    }


def features_record(features: FeatureSet) -> dict[str, Any]:
    """bundle.json's ``features``: folder, content and preprocessing hashes, protocol, datasets, clips, subjects,
    class counts."""
    manifest = features.manifest or {}
    meta = features.meta
    return {"folder": features.source, "content_hash": manifest.get("content_hash"),
            "config_hash": manifest.get("config_hash"), "protocol": manifest.get("protocol"),
            "datasets": sorted(meta["dataset"].unique().tolist()), "clips": len(meta),
            "subjects": int(meta["subject"].nunique()),
            "class_counts": {CLASS_NAMES[c]: int((meta["label"] == c).sum()) for c in range(3)}}
