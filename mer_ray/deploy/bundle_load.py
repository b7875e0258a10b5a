"""Reading a bundle folder back (:mod:`mer_ray.deploy.bundle`, its layout): :func:`load_bundle` checks it and
rebuilds a network bundle's networks and classifiers, or hands a portfolio or probe bundle to
:mod:`mer_ray.deploy.portfolio_bundle` / :mod:`mer_ray.deploy.probe_bundle`.

:func:`load_bundle` refuses a bundle of another format version, one of a kind or task it does not know, one whose
preprocessing this version of the code would not reproduce (its recorded hash differs from the hash of its recorded
configuration), or one whose files changed, with a one-line :class:`~mer_ray.deploy.bundle.BundleError`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from mer_ray.deploy import au_bundle
from mer_ray.deploy.au_bundle import AuDecision
from mer_ray.deploy.bundle import BUNDLE_JSON, FORMAT, FORMAT_VERSION, KINDS, Bundle, BundleError, Member
from mer_ray.deploy.svc_arrays import ArraySVC
from mer_ray.infra.hashing import file_sha256
from mer_ray.training.classifiers import head_kind
from mer_ray.training.config import TrainConfig

if TYPE_CHECKING:
    from mer_ray.deploy.portfolio_bundle import PortfolioBundle
    from mer_ray.deploy.probe_bundle import ProbeBundle


def load_bundle(path: str | Path, device: str = "cpu") -> Bundle | PortfolioBundle | ProbeBundle:
    """Read a bundle folder and rebuild its networks and classifiers (a portfolio bundle, ``"kind": "portfolio"``:
    :class:`mer_ray.deploy.portfolio_bundle.PortfolioBundle`; an AU probe bundle, ``"kind": "probe"``:
    :class:`mer_ray.deploy.probe_bundle.ProbeBundle`; all with the same ``predict``, ``labels``, ``task``,
    ``score_kind`` and ``preprocess``).

    Raises:
        BundleError: one line naming the bundle and the reason (missing, not a bundle, another format version, an
            unknown kind or task, preprocessing this version would not reproduce, a file missing or changed).
    """
    from mer_ray.training.networks import new_model
    from preprocessing.vision.clip import PreprocessConfig

    root = Path(path).expanduser().resolve()
    meta_path = root / BUNDLE_JSON
    if not root.exists():
        raise BundleError(f"model bundle {root} does not exist; make one with `python -m mer_ray.fit ... --out {root}`")
    if not meta_path.is_file():
        raise BundleError(f"{root} is not a model bundle (no {BUNDLE_JSON}); make one with `python -m mer_ray.fit`")
    try:
        info = json.loads(meta_path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise BundleError(f"{meta_path} is unreadable ({type(err).__name__}: {err})") from None
    if not isinstance(info, dict) or info.get("format") != FORMAT:
        found = info.get("format") if isinstance(info, dict) else None
        raise BundleError(f"{meta_path} is not a mer-ray bundle (format {found!r}, expected {FORMAT!r})")
    version = info.get("format_version")
    if version != FORMAT_VERSION:
        raise BundleError(f"{root}: bundle format version {version}, this mer-ray reads version {FORMAT_VERSION}; "
                          "refit it with this version's `python -m mer_ray.fit`")
    kind, task = info.get("kind", "network"), info.get("task", "emotion")
    if kind not in KINDS:
        raise BundleError(f"{root}: a bundle of kind {kind!r}, this mer-ray reads {', '.join(map(repr, KINDS))}; "
                          "refit it with this version's `python -m mer_ray.fit`")
    if task not in au_bundle.TASKS:
        raise BundleError(f"{root}: a bundle of task {task!r}, this mer-ray reads tasks "
                          f"{', '.join(map(repr, au_bundle.TASKS))}; refit it with this version's "
                          "`python -m mer_ray.fit`")
    if kind == "probe" and task != "au":
        raise BundleError(f"{root}: a probe bundle of task {task!r}; this mer-ray reads probe bundles of task 'au' "
                          "only")
    try:
        preprocess = PreprocessConfig.from_dict(info["preprocess"]["config"])
        config = TrainConfig.from_dict(info["train_config"]) if kind == "network" else None
        au = AuDecision.from_record(info["au"]) if task == "au" else None
    except (KeyError, TypeError, ValueError) as err:
        raise BundleError(f"{root}: incompatible bundle: this version cannot read its configuration ({err})") from None
    recorded = info["preprocess"].get("config_hash")
    if preprocess.config_hash() != recorded:
        raise BundleError(f"{root}: incompatible preprocessing: the bundle was made with preprocessing {recorded}, "
                          f"which this version computes as {preprocess.config_hash()}; refit the bundle on features "
                          "made by this version")
    for name, digest in info.get("files", {}).items():
        file = root / name
        if not file.is_file():
            raise BundleError(f"{root}: {name} is missing; the bundle is incomplete")
        if file_sha256(file) != digest:
            raise BundleError(f"{root}: {name} changed since the bundle was written (checksum mismatch)")
    if kind == "portfolio":
        from mer_ray.deploy.portfolio_bundle import load_portfolio

        return load_portfolio(root, info, preprocess, au, device)
    if kind == "probe":
        from mer_ray.deploy.probe_bundle import load_probe

        return load_probe(root, info, preprocess, au)
    members = []
    head = head_kind(config.classifier)
    for entry in info["members"]:
        network = new_model(config, config.modality, head, 3 if au is None else len(au.aus))
        try:
            state = torch.load(root / entry["weights"], map_location="cpu", weights_only=True)
            network.load_state_dict(state, strict=True)
        except (RuntimeError, OSError, ValueError) as err:
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise BundleError(f"{root}: {entry['weights']} does not fit its configuration ({first})") from None
        network.eval().to(device)
        svc = None
        if "svc" in entry:
            with np.load(root / entry["svc"]["arrays"], allow_pickle=False) as arrays:
                svc = ArraySVC.from_arrays(dict(arrays), entry["svc"])
        members.append(Member(network, np.asarray(entry["mean"], np.float32), np.asarray(entry["std"], np.float32),
                              svc))
    return Bundle(root, info, config, preprocess, members, au)
