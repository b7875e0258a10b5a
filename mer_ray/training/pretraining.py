"""Saved flow-pretraining runs: one weights file per held-out subject, so a reused pretraining never saw it.

``RUN_DIR/<subject>.pt`` holds the pretrained state dict plus what it was trained on: the held-out subject it
excludes, the architecture and the pretraining settings. Loading checks the subject and the architecture.
"""

from __future__ import annotations

from pathlib import Path

import torch

from mer_ray.evaluation.folds import subject_filename
from mer_ray.infra.atomic import atomic_path
from mer_ray.training.config import TrainConfig

# settings that change what pretraining learns (recorded; the structural ones must match to load)
STRUCTURAL = ("model", "input_size", "model_options", "act", "dropout")
RECORDED = (*STRUCTURAL, "pretrain_epochs", "lr", "l2", "batch_size", "balanced_sampling", "flip_expand",
            "apply_mask", "plateau_patience", "plateau_factor")


class PretrainedError(ValueError):
    """A saved pretraining cannot be used for this fold (missing, other subject, other architecture)."""


def weights_path(folder: str | Path, subject: str) -> Path:
    return Path(folder) / f"{subject_filename(subject)}.pt"


def save_pretrained(folder: str | Path, subject: str, state: dict[str, torch.Tensor], config: TrainConfig,
                    features_hash: str = "") -> Path:
    """Write the pretraining of the fold that holds out ``subject`` (atomically)."""
    settings = config.to_dict()
    path = weights_path(folder, subject)
    record = {
        "held_out_subject": subject,
        "settings": {k: settings[k] for k in RECORDED if k in settings},
        "features_hash": features_hash,
        "state_dict": state,
    }
    with atomic_path(path) as tmp:
        torch.save(record, tmp)
    return path


def load_pretrained(folder: str | Path, subject: str, config: TrainConfig,
                    features_hash: str = "") -> dict[str, torch.Tensor]:
    """The saved pretraining for the fold holding out ``subject``; refuses anything else."""
    settings = config.to_dict()
    path = weights_path(folder, subject)
    if not path.is_file():
        raise PretrainedError(
            f"{path} not found: {folder} has no pretraining that holds out {subject!r}; save one with "
            "`--save-pretrained DIR` on a run over the same subjects"
        )
    record = torch.load(path, map_location="cpu", weights_only=True)
    if record.get("held_out_subject") != subject:
        raise PretrainedError(f"{path} was pretrained holding out {record.get('held_out_subject')!r}, "
                              f"not {subject!r}: it may have seen this fold's test subject")
    saved = record.get("settings", {})
    for key in STRUCTURAL:
        if key in saved and saved[key] != settings.get(key):
            raise PretrainedError(f"{path}: pretrained with {key}={saved[key]!r}; this configuration has "
                                  f"{key}={settings.get(key)!r}")
    if features_hash and record.get("features_hash") and record["features_hash"] != features_hash:
        raise PretrainedError(f"{path} was pretrained on other features (content hash "
                              f"{record['features_hash'][:12]}, these are {features_hash[:12]})")
    return record["state_dict"]
