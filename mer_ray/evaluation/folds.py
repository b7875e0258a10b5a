"""Folds and fold tasks: who is held out, who is trained on, and the seed a fold reruns with.

A :class:`Fold` names the subjects it predicts (``held_out``) and those it neither trains on nor predicts
(``exclude``: the outer test subject of a nested search). A :class:`FoldTask` is one unit of work: one
configuration on one fold. It carries a typed configuration and becomes a dict only at the Ray Tune boundary.

Evaluation protocols (:data:`EVALUATION_PROTOCOLS`): ``loso`` (one fold per subject, :func:`loso_folds`) and
``lodo`` (leave one dataset out: one fold per dataset holding out all its subjects, or the one fold of a named test
dataset, :func:`dataset_folds`); :func:`protocol_folds` builds either.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mer_ray.data.features import MASKED_LABEL, FeatureSet
from mer_ray.evaluation.au_task import AuTask


@dataclass(frozen=True)
class Fold:
    """A split: predict ``held_out``, train on everyone else except ``exclude``.

    In LOSO a fold holds out one subject and is named after it; the inner folds of a nested search hold out a
    group of training subjects and exclude the outer test subject.
    """

    name: str
    held_out: tuple[str, ...]
    exclude: tuple[str, ...] = ()

    @property
    def hidden(self) -> tuple[str, ...]:
        """Subjects whose labels the trainer must not see: the held-out and the excluded ones."""
        return (*self.held_out, *self.exclude)


def loso_folds(subjects: list[str]) -> list[Fold]:
    """One fold per subject, named after it."""
    return [Fold(subject, (subject,)) for subject in subjects]


EVALUATION_PROTOCOLS = ("loso", "lodo")  # leave one subject out (the default); leave one dataset out


def check_dataset_protocol(datasets: Sequence[str], test_dataset: str | None = None) -> None:
    """Refuse a leave-one-dataset-out protocol that ``datasets`` (the names in the features) cannot run.

    Raises:
        ValueError: fewer than two datasets (naming the one present), or ``test_dataset`` not among them (listing
            the ones that are).
    """
    names = sorted(set(datasets))
    if len(names) < 2:
        present = f"one: {names[0]}" if names else "none"
        raise ValueError(f"a cross-dataset protocol needs features with at least two datasets; these hold {present}")
    if test_dataset is not None and test_dataset not in names:
        raise ValueError(f"{test_dataset!r} is not a dataset of the features; they hold: {', '.join(names)}")


def dataset_folds(features: FeatureSet, test_dataset: str | None = None) -> list[Fold]:
    """Leave one dataset out: one fold per dataset, named after it, holding out all its subjects (trained on the
    other datasets' subjects); with ``test_dataset``, that dataset's fold only (train on the others, test on it).

    Raises:
        ValueError: fewer than two datasets, an unknown ``test_dataset`` (:func:`check_dataset_protocol`), or a
            subject in two datasets (it would be trained on and tested on).
    """
    meta = features.meta
    check_dataset_protocol(meta["dataset"].unique().tolist(), test_dataset)
    owners = meta.groupby("subject")["dataset"].nunique()
    if (shared := sorted(owners[owners > 1].index)):
        raise ValueError(f"subjects {shared[:5]} appear in more than one dataset: a dataset fold cannot hold them out")
    by_dataset = meta.groupby("dataset")["subject"].unique()
    names = [test_dataset] if test_dataset is not None else sorted(by_dataset.index)
    return [Fold(str(name), tuple(sorted(str(s) for s in by_dataset[name]))) for name in names]


def protocol_folds(features: FeatureSet, protocol: str = "loso", test_dataset: str | None = None) -> list[Fold]:
    """The folds of an evaluation protocol: ``loso`` (one per subject) or ``lodo`` (:func:`dataset_folds`).

    Raises:
        ValueError: an unknown protocol, a test dataset under ``loso``, or a dataset protocol the features cannot
            run.
    """
    if protocol not in EVALUATION_PROTOCOLS:
        raise ValueError(f"unknown evaluation protocol {protocol!r}; valid: {', '.join(EVALUATION_PROTOCOLS)}")
    if protocol == "loso":
        if test_dataset is not None:
            raise ValueError("a test dataset is a leave-one-dataset-out fold; it cannot go with the loso protocol")
        return loso_folds(features.subjects)
    return dataset_folds(features, test_dataset)


def describe_protocol(protocol: str, datasets: Sequence[str], test_dataset: str | None = None,
                      subjects: int | None = None) -> str:
    """One line naming the protocol and its folds, e.g. ``leave one dataset out (3 folds: casme2, samm, smic)``."""
    names = sorted(datasets)
    if protocol == "lodo" and test_dataset is not None:
        others = [d for d in names if d != test_dataset]
        return f"train on {', '.join(others)}, test on {test_dataset} (one fold: every {test_dataset} subject held out)"
    if protocol == "lodo":
        return (f"leave one dataset out ({len(names)} folds: {', '.join(names)}): each fold holds out every subject "
                "of one dataset and trains on the other datasets")
    count = f"{subjects} folds, " if subjects else ""
    return f"leave one subject out (LOSO: {count}one per subject)"


def inner_folds(subjects: list[str], outer: str, k: int, seed: int) -> list[Fold]:
    """K groups of the subjects other than ``outer`` (shuffled with ``seed``); ``outer`` is excluded from all."""
    others = [s for s in subjects if s != outer]
    if len(others) < 2:
        raise ValueError(f"a nested search needs at least 3 subjects; got {len(subjects)}")
    k = max(2, min(k, len(others)))
    order = np.random.default_rng(seed).permutation(len(others))
    groups = [tuple(sorted(others[i] for i in order[g::k])) for g in range(k)]
    return [Fold(f"g{g}", group, (outer,)) for g, group in enumerate(groups)]


@dataclass(frozen=True)
class FoldTask:
    """Train configuration ``config_id`` on ``fold`` and predict its held-out subjects.

    Attributes:
        config_id: the configuration's id in its search (``c003``).
        fold: the split.
        config: the typed method configuration (``mer_ray.methods.parse_config``).
        seed: the fold's seed (:func:`fold_seed`).
        nested_final: the refit of a nested search's chosen configuration on an outer fold (its predictions are
            the outer ones), not a fold of an inner search.
        au: the AU detection targets (``--task au``: :class:`~mer_ray.evaluation.au_task.AuTask`); None: the
            emotion classes.
    """

    config_id: str
    fold: Fold
    config: Any = field(repr=False)
    seed: int
    nested_final: bool = False
    au: AuTask | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON-ready form that crosses the Ray boundary."""
        out = {"config_id": self.config_id, "fold": self.fold.name, "held_out": list(self.fold.held_out),
               "exclude": list(self.fold.exclude), "config": self.config.to_dict(), "seed": self.seed,
               "nested_final": self.nested_final}
        return out if self.au is None else {**out, "au": self.au.to_dict()}

    @classmethod
    def from_dict(cls, d: dict[str, Any], parse_config: Callable[[dict[str, Any]], Any]) -> FoldTask:
        """Inverse of :meth:`to_dict`; ``parse_config`` is ``mer_ray.methods.parse_config``."""
        fold = Fold(d["fold"], tuple(d["held_out"]), tuple(d.get("exclude", ())))
        au = AuTask.from_dict(d["au"]) if d.get("au") else None
        return cls(d["config_id"], fold, parse_config(d["config"]), int(d["seed"]), bool(d.get("nested_final")), au)


def fold_seed(base_seed: int, config_id: str, subject: str) -> int:
    """A stable seed per (configuration, held-out subject) so that a fold reruns identically."""
    digest = hashlib.sha256(f"{base_seed}|{config_id}|{subject}".encode()).digest()
    return int.from_bytes(digest[:4], "little")


def subject_filename(subject: str) -> str:
    """``casme2/sub01`` -> ``casme2__sub01`` (a file name that keeps the subject readable)."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", subject.replace("/", "__"))


@dataclass
class FoldResult:
    """Predictions for a fold's held-out subjects (no labels: the caller joins them from its own copy)."""

    subject: str  # the held-out subject, or "+"-joined subjects of a group fold
    sample_ids: list[str]
    y_pred: np.ndarray  # (N,) int; AU task: (N, K) 0 / 1, -1 where the AU was skipped in this fold
    scores: np.ndarray  # (N, 3) float; AU task: (N, K) probabilities of present, NaN where skipped
    train_ids: list[str]
    epochs: int
    seconds: float
    model_digest: str = ""  # sha256 of the trained weights: equal digests mean identical training
    history: dict[str, list[float]] = field(default_factory=dict)
    # method-specific record of the fold (a portfolio's chosen weights and its members' held-out scores); JSON-ready
    details: dict[str, Any] = field(default_factory=dict)


def fold_rows(data: FeatureSet, held: Sequence[str], exclude: Sequence[str] = ()) -> tuple[np.ndarray, np.ndarray]:
    """``(train_rows, test_rows)`` of a fold, after checking that every hidden subject's labels are masked.

    Raises:
        ValueError: a held-out subject has no clips, a hidden label is visible, or a training label is masked.
    """
    subjects = data.meta["subject"].to_numpy()
    test_rows = np.flatnonzero(np.isin(subjects, list(held)))
    if len(test_rows) == 0:
        raise ValueError(f"held-out subject(s) {list(held)!r} have no clips in the data")
    labels = data.labels
    hidden = np.isin(subjects, [*held, *exclude])
    if np.any(labels[hidden] != MASKED_LABEL):
        raise ValueError(
            f"the labels of held-out subject(s) {list(held)!r} must be masked before training "
            "(pass data.with_masked_labels(subject)): the trainer may not see them"
        )
    train_rows = np.flatnonzero(~hidden)
    if np.any(labels[train_rows] < 0):
        raise ValueError("training rows carry masked labels: only held-out or excluded subjects may be masked")
    return train_rows, test_rows


def inner_split(subjects: np.ndarray, train_rows: np.ndarray, fraction: float,
                rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Hold back ``fraction`` of the TRAINING subjects (whole subjects) for validation: ``(fit_rows, val_rows)``."""
    names = np.unique(subjects[train_rows])
    if len(names) < 2:
        raise ValueError("inner epoch selection needs at least 2 training subjects")
    n_val = min(len(names) - 1, max(1, round(fraction * len(names))))
    val_names = set(rng.choice(names, size=n_val, replace=False).tolist())
    in_val = np.array([subjects[r] in val_names for r in train_rows])
    return train_rows[~in_val], train_rows[in_val]
