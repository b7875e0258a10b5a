"""Writing a network bundle (:mod:`mer_ray.deploy.bundle`, its layout) of trained networks: each member's weights and
SVC arrays, ``bundle.json`` (:func:`mer_ray.deploy.bundle_info.bundle_info`) and the model card
(:func:`mer_ray.deploy.bundle_card.model_card`), written into a temporary sibling folder and moved into place when
complete; the staging, preprocessing check and finishing steps are shared by the portfolio and probe bundles.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from mer_ray.data.features import FeatureSet
from mer_ray.deploy.au_bundle import AuDecision
from mer_ray.deploy.bundle import BUNDLE_JSON, MODEL_CARD, BundleError, Member
from mer_ray.deploy.bundle_card import model_card
from mer_ray.deploy.bundle_info import bundle_info
from mer_ray.infra.hashing import file_sha256
from mer_ray.training.config import TrainConfig

if TYPE_CHECKING:
    from preprocessing.vision.clip import PreprocessConfig


def save_bundle(out: str | Path, *, config: TrainConfig, members: list[Member], features: FeatureSet,
                epochs: int, seed: int, source: dict[str, Any], loso: dict[str, Any] | None,
                notes: list[str] | None = None, history: dict[str, list[float]] | None = None,
                au: AuDecision | None = None) -> Path:
    """Write a bundle folder (to a temporary sibling first, renamed when complete).

    Args:
        out: the bundle folder (must not exist, or be empty).
        config: the configuration trained.
        members: the trained networks (one per ensemble member) with statistics and SVCs.
        features: what they were trained on (its manifest gives the preprocessing and content hash).
        epochs: fine-tuning epochs used (fixed, or chosen on inner subject-wise validation).
        seed: the fit's seed.
        source: where the configuration came from (``{"kind": "run", "run": ..., "config_id": ...}`` or
            ``{"kind": "space", "space": ..., "settings": {...}}``).
        loso: the configuration's pooled LOSO scores with ``"optimistic"``, or None.
        notes: lines for the model card (what was changed, what to keep in mind).
        history: training losses of the fit.
        au: AU detection (the networks have one output per AU): what they detect (:class:`AuDecision`).
    """
    out, tmp = staging_folder(out)
    preprocess = bundle_preprocess(features)
    files, member_info = write_members(tmp, members)
    info = bundle_info(config=config, features=features, preprocess=preprocess, member_info=member_info, files=files,
                       epochs=epochs, seed=seed, source=source, loso=loso, notes=notes, history=history, au=au)
    return finish_bundle(tmp, out, info, model_card)


def staging_folder(out: str | Path) -> tuple[Path, Path]:
    """The bundle's resolved folder and an empty temporary sibling to write it in (renamed when complete)."""
    out = Path(out).expanduser().resolve()
    tmp = out.with_name(f".{out.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    return out, tmp


def finish_bundle(tmp: Path, out: Path, info: dict[str, Any], card: Callable[[dict[str, Any]], str]) -> Path:
    """Write bundle.json and the model card (``card`` of the info) into the staging folder, then move it to ``out``."""
    (tmp / BUNDLE_JSON).write_text(json.dumps(info, indent=2) + "\n")
    (tmp / MODEL_CARD).write_text(card({**info, "path": str(out)}))
    move_into_place(tmp, out)
    return out


def bundle_preprocess(features: FeatureSet) -> PreprocessConfig:
    """The preprocessing ``features`` were made with (their manifest's); refused when this version would hash
    that configuration differently (it would not reproduce those features)."""
    from preprocessing.vision.clip import PreprocessConfig  # OpenCV / dlib: imported only where a bundle is written

    manifest = features.manifest or {}
    preprocess = PreprocessConfig.from_dict(manifest.get("config") or {})
    if manifest.get("config_hash") and manifest["config_hash"] != preprocess.config_hash():
        raise BundleError(f"{features.source}: the manifest's preprocessing hash {manifest['config_hash']} is not the "
                          f"hash of its configuration ({preprocess.config_hash()}) in this version; preprocess again")
    return preprocess


def write_members(folder: Path, members: list[Member]) -> tuple[dict[str, str], list[dict[str, Any]]]:
    """Write each member's weights (and SVC arrays) into ``folder``; returns ``(files, members)`` as bundle.json
    records them: file name -> sha256, and per member its files and input statistics."""
    files, member_info = {}, []
    for k, member in enumerate(members):
        name = f"network_{k}.pt"
        torch.save({key: value.detach().cpu() for key, value in member.network.state_dict().items()}, folder / name)
        files[name] = file_sha256(folder / name)
        entry: dict[str, Any] = {"weights": name, "mean": member.mean.tolist(), "std": member.std.tolist()}
        if member.svc is not None:
            svc_name = f"svc_{k}.npz"
            np.savez(folder / svc_name, **member.svc.to_arrays())
            files[svc_name] = file_sha256(folder / svc_name)
            entry["svc"] = {"arrays": svc_name, **member.svc.params()}
        member_info.append(entry)
    return files, member_info


def move_into_place(tmp: Path, out: Path) -> None:
    """Rename the complete folder ``tmp`` to ``out`` (which may exist only empty; else ``tmp`` is removed)."""
    if out.exists():
        if any(out.iterdir()):
            shutil.rmtree(tmp, ignore_errors=True)
            raise BundleError(f"{out} exists and is not empty; choose another --out")
        out.rmdir()
    tmp.rename(out)
