"""A portfolio: several member recipes combined with weights fitted on the TRAINING subjects of each outer fold.

The adaptive recipe of issue 24: no data-dependent choice is fixed in advance. Per outer fold (``fit_predict``):

1. the training subjects are split into ``inner_folds`` subject-wise groups (:func:`mer_ray.evaluation.folds.
   inner_folds`); each member (a complete configuration of another method: the linear probe, a network...) is
   trained on all groups but one and predicts that one, so every training clip gets an out-of-fold (OOF) score
   from every member. Inside these inner folds a member may run a cheaper variant (``inner_settings``: e.g. one
   network instead of an ensemble of five);
2. the combination is fitted on those OOF scores and the training labels only
   (:func:`~mer_ray.methods.portfolio_combination.fit_combination`):
   ``"weights"`` (default) calibrates each member by a temperature and picks non-negative weights summing to 1 on
   a simplex grid, minimising the class-balanced log-loss (or maximising UAR) of the weighted mean of calibrated
   probabilities; ``"select"`` keeps the single best member; ``"stack"`` fits a multinomial logistic regression on
   the members' concatenated log-probabilities, its C chosen by a grouped K-fold over the training subjects;
3. every member is trained on all training subjects and predicts the held-out subject(s); the fitted combination
   turns their scores into the fold's scores. A ``crossfit`` member is not trained again: its inner-fold models
   (each trained on all training groups but one) also predict the held-out subject(s), and their mean is its
   held-out score (cross-fitting, a cross-validation ensemble: the OOF scores come at no extra training cost).

Honest by construction: the held-out (and excluded) subjects' labels arrive masked (``run_task``), every inner fold
masks its own group on top, and every member fit goes through its method's ``fit_predict``, which checks the masks
(``fold_rows``). Nothing of the held-out subject but its inputs reaches a member's final ``predict``.

Scores to probabilities, the same for every member: a member's scores are already probabilities where its method
returns softmax outputs (a network with its softmax or hinge head: rows of non-negative values summing to 1); any
other score (the probe's logistic-regression decision values, an SVM's margins) goes through a softmax, which for
a multinomial logistic regression is exactly its ``predict_proba``.

The fold's ``FoldResult.details`` records the combination (weights, temperatures, inner scores) and each member's
held-out probabilities, so a report can show every member's pooled row beside the combination
(:func:`mer_ray.evaluation.parts.portfolio_section`).
"""

from __future__ import annotations

import hashlib
import time
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from mer_ray.data.features import FeatureSet
from mer_ray.evaluation.folds import FoldResult, fold_rows, inner_folds
from mer_ray.methods.portfolio_au_combination import au_probabilities, fit_au_combination
from mer_ray.methods.portfolio_combination import fit_combination, probabilities
from mer_ray.methods.portfolio_config import PortfolioConfig

# ---- the fold function ------------------------------------------------------------------------------------------


def member_seed(seed: int, member: str, fold: str) -> int:
    """A stable seed per (fold seed, member, inner fold or ``"final"``)."""
    digest = hashlib.sha256(f"{seed}|{member}|{fold}".encode()).digest()
    return int.from_bytes(digest[:4], "little")


def _member_fit(name: str, config: Any, data: FeatureSet, held: Sequence[str], seed: int,
                exclude: Sequence[str], device: str | None, log, au=None) -> FoldResult:
    from mer_ray.methods import get_method

    extra = {} if au is None else {"au": au}
    return get_method(config.method).fit_predict(config, data, list(held), seed, exclude_subjects=list(exclude),
                                                 device=device, log=log, **extra)


def out_of_fold(config: PortfolioConfig, data: FeatureSet, held_out: Sequence[str], seed: int, *,
                exclude_subjects: Sequence[str] = (), device: str | None = None,
                log: Callable[[str], None] | None = None,
                au=None) -> tuple[np.ndarray, list[np.ndarray], np.ndarray, dict]:
    """Every member's out-of-fold probabilities for every training clip of the fold.

    Returns ``(train_rows, [(len(train_rows), C) per member], the rows' subjects, record)``; ``record``: the inner
    folds' subjects (``groups``), each member's seconds over its inner fits (``seconds``) and, per ``crossfit``
    member, its inner models' mean probabilities of the held-out clips (``crossfit``: name -> (sample_ids, (N, C))).
    ``au``: AU detection (:class:`~mer_ray.evaluation.au_task.AuTask`): the members' per-AU probabilities,
    (len(train_rows), K), NaN where an inner fold skipped an AU; ``train_rows`` are then the coded training rows.
    """
    train_rows, _ = fold_rows(data, held_out, exclude_subjects)  # checks the outer fold's masks
    if au is not None:  # the clips with AU codes (the combination's targets)
        from mer_ray.evaluation.au_task import coded

        train_rows = train_rows[coded(data.meta["action_units"].to_numpy()[train_rows].tolist())]
    subjects = data.meta["subject"].to_numpy()
    sample_ids = data.meta["sample_id"].to_numpy()
    train_subjects = sorted(set(subjects[train_rows]))
    hidden = (*held_out, *exclude_subjects)
    # inner_folds() leaves out one "outer" subject; none of the training subjects is it
    groups = [f.held_out for f in inner_folds(train_subjects, "\0outer", config.inner_folds, seed)]
    position = {sid: i for i, sid in enumerate(sample_ids[train_rows])}
    width = 3 if au is None else len(au.aus)
    oof = [np.full((len(train_rows), width), np.nan) for _ in config.members]
    to_probabilities = probabilities if au is None else au_probabilities
    seconds = dict.fromkeys(config.members, 0.0)
    held_probs: dict[str, list[tuple[list[str], np.ndarray]]] = {name: [] for name in config.crossfit}
    for g, group in enumerate(groups):
        inner_data = data.with_masked_labels(list(group))  # the outer hidden subjects stay masked
        for i, name in enumerate(config.members):
            crossfit = name in config.crossfit  # its inner model also predicts the held-out subject(s)
            started = time.monotonic()
            result = _member_fit(name, config.member_config(name, inner=True), inner_data,
                                 [*group, *held_out] if crossfit else group, member_seed(seed, name, f"g{g}"),
                                 exclude_subjects if crossfit else hidden, device, log, au)
            seconds[name] += time.monotonic() - started
            probs = to_probabilities(result.scores)
            inner = [k for k, sid in enumerate(result.sample_ids) if sid in position]
            oof[i][[position[result.sample_ids[k]] for k in inner]] = probs[inner]
            if crossfit:
                outer = [k for k, sid in enumerate(result.sample_ids) if sid not in position]
                held_probs[name].append(([result.sample_ids[k] for k in outer], probs[outer]))
    if au is None and any(np.isnan(p).any() for p in oof):  # AU detection: NaN = an AU an inner fold skipped
        raise RuntimeError("a training clip got no out-of-fold score")
    record = {"groups": {f"g{g}": list(group) for g, group in enumerate(groups)}, "seconds": seconds,
              "crossfit": {name: _mean_held(parts) for name, parts in held_probs.items()}}
    return train_rows, oof, subjects[train_rows], record


def _mean_held(parts: list[tuple[list[str], np.ndarray]]) -> tuple[list[str], np.ndarray]:
    """The inner models' mean probabilities of the held-out clips (every inner model predicts them in one order)."""
    ids = parts[0][0]
    if any(other != ids for other, _ in parts[1:]):
        raise RuntimeError("inner models returned the held-out clips in different orders")
    stacked = np.stack([p for _, p in parts])
    if np.isnan(stacked).any():  # AU detection: the inner models that scored an AU (NaN where none did)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return ids, np.nanmean(stacked, axis=0)
    return ids, stacked.mean(axis=0)


def fit_predict(config: PortfolioConfig, data: FeatureSet, held_out: Sequence[str], seed: int, *,
                exclude_subjects: Sequence[str] = (), device: str | None = None,
                log: Callable[[str], None] | None = None, au=None) -> FoldResult:
    """Fit the combination on inner folds of the training subjects, then every member on all of them; predict
    ``held_out`` (a ``mer_ray.methods`` fold function).

    ``au``: AU detection (:class:`~mer_ray.evaluation.au_task.AuTask`): the members detect every AU, the
    combination (:func:`~mer_ray.methods.portfolio_au_combination.fit_au_combination`) is fitted on their
    out-of-fold probabilities and the training clips' AU codes, and an AU is present where the combined probability
    is > 0.5 (skipped AUs: -1, as the members)."""
    start = time.monotonic()
    held = list(held_out)
    train_rows, oof, groups, inner_record = out_of_fold(config, data, held, seed, exclude_subjects=exclude_subjects,
                                                        device=device, log=log, au=au)
    if au is None:
        combination = fit_combination(config, oof, data.labels[train_rows], groups)
    else:
        from mer_ray.evaluation.au_task import au_matrix

        combination = fit_au_combination(config, oof, au_matrix(data.meta["action_units"].to_numpy()[train_rows],
                                                                 au.aus))
    seconds_inner = time.monotonic() - start
    finals = {name: _member_fit(name, config.member_config(name, inner=False), data, held,
                                member_seed(seed, name, "final"), exclude_subjects, device, log, au)
              for name in config.members if name not in config.crossfit}
    held_ids = [list(r.sample_ids) for r in finals.values()] + [ids for ids, _ in inner_record["crossfit"].values()]
    sample_ids = held_ids[0]
    if any(ids != sample_ids for ids in held_ids[1:]):
        raise RuntimeError("portfolio members returned the held-out clips in different orders")
    to_probabilities = probabilities if au is None else au_probabilities
    member_probs = [to_probabilities(finals[name].scores) if name in finals else inner_record["crossfit"][name][1]
                    for name in config.members]
    scores = combination(member_probs).astype(np.float32)
    y_pred = scores.argmax(axis=1).astype(np.int64)
    if au is not None:  # an AU the final members skipped (or no inner model scored): -1
        from mer_ray.evaluation.au_task import decide

        finals_au = [r.details["au"] for r in finals.values() if "au" in r.details]
        skipped = set().union(*(set(r["skipped"]) for r in finals_au)) if finals_au else set()
        active = np.array([name not in skipped for name in au.names]) & ~np.isnan(scores).all(axis=0)
        y_pred, scores = decide(scores, active)
    details = {
        "portfolio": combination.record(),
        "inner_groups": inner_record["groups"],
        "sample_ids": list(sample_ids),
        "member_scores": {name: p.astype(np.float32).tolist() for name, p in zip(config.members, member_probs)},
        "member_seconds": {name: finals[name].seconds if name in finals else inner_record["seconds"][name]
                           for name in config.members},
        "inner_member_seconds": inner_record["seconds"],
        "inner_seconds": seconds_inner,
    }
    if au is not None:
        details["au"] = {**(finals_au[0] if finals_au else {}),
                         "skipped": {name: why for r in finals_au for name, why in r["skipped"].items()}}
    if config.record_inner:  # the out-of-fold probabilities the combination was fitted on (training clips)
        details["inner_ids"] = data.meta["sample_id"].iloc[train_rows].tolist()
        details["inner_scores"] = {name: p.astype(np.float32).tolist() for name, p in zip(config.members, oof)}
    return FoldResult(
        subject="+".join(held),
        sample_ids=sample_ids,
        y_pred=y_pred,
        scores=scores,
        train_ids=data.meta["sample_id"].iloc[train_rows].tolist(),
        epochs=max((r.epochs for r in finals.values()), default=0),
        seconds=time.monotonic() - start,
        model_digest=hashlib.sha256("|".join([*(r.model_digest for r in finals.values()),
                                              *(hashlib.sha256(p.tobytes()).hexdigest()
                                                for _, p in inner_record["crossfit"].values())]).encode()
                                    ).hexdigest(),
        details=details,
    )
