"""Writing a portfolio bundle (:mod:`mer_ray.deploy.portfolio_bundle`, its layout) of a
:class:`~mer_ray.deploy.portfolio_fit.FittedPortfolio`: the probe members' arrays, each network member as a network
bundle under ``members/``, ``bundle.json`` and the model card (:func:`mer_ray.deploy.portfolio_card.portfolio_card`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from mer_ray.data.features import FeatureSet
from mer_ray.deploy.bundle import BUNDLE_JSON, MODEL_CARD
from mer_ray.deploy.bundle_card import model_card
from mer_ray.deploy.bundle_info import base_info
from mer_ray.deploy.bundle_save import bundle_preprocess, finish_bundle, save_bundle, staging_folder
from mer_ray.deploy.portfolio_bundle import AU_SCORE_KIND, KIND, MEMBERS_DIR, SCORE_KIND
from mer_ray.deploy.portfolio_card import portfolio_card
from mer_ray.deploy.portfolio_fit import FittedPortfolio
from mer_ray.deploy.probe_arrays import AuProbe, ProbeArrays
from mer_ray.infra.hashing import file_sha256


def save_portfolio(out: str | Path, fitted: FittedPortfolio, *, features: FeatureSet, seed: int,
                   source: dict[str, Any], loso: dict[str, Any] | None, notes: list[str] | None = None) -> Path:
    """Write a portfolio bundle folder (to a temporary sibling first, renamed when complete); arguments as
    :func:`mer_ray.deploy.bundle_save.save_bundle`'s."""
    out, tmp = staging_folder(out)
    preprocess = bundle_preprocess(features)
    config = fitted.config
    members: dict[str, dict[str, Any]] = {}
    k = len(fitted.subject_groups)
    for name in config.members:
        member = fitted.members[name]
        if isinstance(member, ProbeArrays):
            arrays = f"probe_{name}.npz"
            np.savez(tmp / arrays, **member.to_arrays())
            members[name] = {"kind": "linear_probe", "config": member.config.to_dict(), "arrays": arrays}
            continue
        if isinstance(member, AuProbe):  # one file per detected AU
            files = {au: member.file_name(name, au) for au in member.probes}
            for au, file in files.items():
                np.savez(tmp / file, **member.probes[au].to_arrays())
            members[name] = {"kind": "linear_probe", "config": member.config.to_dict(), "arrays": files}
            continue
        folder = f"{MEMBERS_DIR}/{name}"
        epochs = fitted.epochs[name]
        crossfit = name in config.crossfit
        note = (f"member {name!r} of the portfolio bundle {out}: {len(member.bundle.members)} cross-fitted networks, "
                f"{len(member.groups)} subject groups, each group's networks trained without that group's subjects "
                f"({'; '.join(', '.join(g) for g in fitted.subject_groups)}); the portfolio averages the groups' "
                "probabilities (this bundle on its own averages every network's scores)" if crossfit else
                f"member {name!r} of the portfolio bundle {out}: {len(member.bundle.members)} networks fitted on "
                "every clip, their scores averaged")
        sub_source = {"kind": "portfolio member", "member": name, "portfolio": source}
        sub_au = None  # AU detection: the portfolio's AUs that every group of this member detects
        if fitted.au is not None:
            sub_au = fitted.au.restricted(np.all(member.active, axis=0), "not detected by every subject group of "
                                          "this member (the portfolio's bundle.json lists each group's)")
        save_bundle(tmp / folder, config=member.bundle.config, members=member.bundle.members, features=features,
                    epochs=max(epochs), seed=seed, source=sub_source, loso=None,
                    notes=[note, f"epochs per group: {epochs}"], history=fitted.history.get(name, {}), au=sub_au)
        sub_info = json.loads((tmp / folder / BUNDLE_JSON).read_text())
        (tmp / folder / MODEL_CARD).write_text(model_card({**sub_info, "path": str(out / folder)}))
        members[name] = {"kind": "network", "crossfit": crossfit, "bundle": folder, "groups": member.groups,
                         "epochs_used": epochs}
        if member.active is not None:
            names = fitted.au.names
            members[name]["groups_detect"] = [[n for n, on in zip(names, active) if on] for active in member.active]
    files = {str(p.relative_to(tmp)): file_sha256(p) for p in sorted(tmp.rglob("*")) if p.is_file()}
    scores = SCORE_KIND if fitted.au is None else AU_SCORE_KIND
    info = base_info(KIND, features=features, preprocess=preprocess, seed=seed, source=source, loso=loso,
                     notes=notes, au=fitted.au) | {
        "portfolio_config": config.to_dict(),
        "classifier": {"kind": KIND, "scores": scores},
        "combination": fitted.combination.record(),
        "subject_groups": {f"g{g}": list(group) for g, group in enumerate(fitted.subject_groups)},
        "inner_folds": k,
        "members": members,
        "files": files,
        "seconds": {"total": fitted.seconds, **fitted.member_seconds},
    }
    return finish_bundle(tmp, out, info, portfolio_card)


__all__ = ["save_portfolio"]
