"""AU detection in bundles (``python -m mer_ray.fit --task au``): the targets of a fit on every clip, what a bundle
records of them (:class:`AuDecision`), the ``--task`` / ``--aus`` options of ``fit`` and the AU columns of
``predict``'s table.

A bundle of task ``au`` (``"task": "au"`` in bundle.json; absent: ``"emotion"``) detects the AUs of its
vocabulary (``au.aus``: a LOSO run's, ``--aus`` or the most frequent, ascending; ``labels`` are their names): per
AU a probability of presence, present where it is above the AU's threshold. The threshold is 0.5 on the
probability, the rule the LOSO figures measured (:func:`mer_ray.evaluation.au_task.decide`): no threshold is tuned
on the training clips. An AU with fewer than ``min_positives`` positive (or negative) clips among all the training
clips is skipped: no detector, probability NaN, prediction -1 (empty in predict's table), its reason recorded.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from mer_ray.data.features import FeatureSet
from mer_ray.evaluation.au_task import SKIPPED, TASKS, AuTask, FoldTargets, au_name, decide, fold_targets

THRESHOLD = 0.5  # on the probability of presence, per AU: LOSO's rule (au_task.decide), not tuned on data
SCORE_KIND = "per-AU probability of presence"
__all__ = ["SCORE_KIND", "TASKS", "THRESHOLD", "AuDecision", "all_targets", "au_row", "fit_task", "task_option"]


def all_targets(task: AuTask, data: FeatureSet) -> FoldTargets:
    """The AU targets of a fit on every clip of ``data`` (its coded clips; no hidden subject)."""
    return fold_targets(task, data.meta, np.arange(len(data)), np.zeros(0, np.int64))


@dataclass(frozen=True)
class AuDecision:
    """What an AU bundle detects and how: its AU vocabulary, which AUs have a detector, the thresholds on their
    probabilities, and why the others were skipped (bundle.json ``au``).

    Attributes:
        aus: the vocabulary (FACS numbers, ascending): the table's columns, in order.
        active: (K,) which AUs are detected (the others were skipped in training).
        thresholds: (K,) present where the probability is above this.
        skipped: AU name -> why (``"2 positive training clips < 3"``).
        min_positives: the skip rule's minimum of positive (and negative) training clips.
        positives: (K,) positive training clips of each AU.
        clips: the coded training clips.
    """

    aus: tuple[int, ...]
    active: tuple[bool, ...]
    thresholds: tuple[float, ...]
    skipped: dict[str, str]
    min_positives: int
    positives: tuple[int, ...]
    clips: int

    @classmethod
    def of(cls, task: AuTask, targets: FoldTargets) -> AuDecision:
        return cls(tuple(task.aus), tuple(bool(a) for a in targets.active), (THRESHOLD,) * len(task.aus),
                   dict(targets.skipped), task.min_positives, tuple(int(p) for p in targets.y.sum(axis=0)),
                   len(targets.rows))

    @property
    def names(self) -> list[str]:
        return [au_name(a) for a in self.aus]

    @property
    def detected(self) -> list[str]:
        return [name for name, on in zip(self.names, self.active) if on]

    def decide(self, probabilities: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(y_pred (N, K) int64, scores (N, K) float32)``: 1 where a detected AU's probability is above its
        threshold, else 0; a skipped AU -1 and NaN."""
        return decide(probabilities, np.asarray(self.active, bool), np.asarray(self.thresholds, np.float32))

    def record(self) -> dict[str, Any]:
        """bundle.json's ``au``."""
        return {"aus": list(self.aus), "names": self.names, "detected": self.detected,
                "thresholds": dict(zip(self.names, self.thresholds)),
                "threshold_rule": f"the probability is above the AU's threshold, {THRESHOLD}: the rule the LOSO "
                                  "figures measured (not tuned on the training clips)",
                "skipped": dict(self.skipped), "min_positives": self.min_positives,
                "positives": dict(zip(self.names, self.positives)), "train_clips": self.clips}

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> AuDecision:
        """The decision of bundle.json's ``au`` (KeyError / TypeError / ValueError when it is not one)."""
        aus = tuple(int(a) for a in record["aus"])
        names = [au_name(a) for a in aus]
        detected = set(record["detected"])
        if not aus or detected - set(names):
            raise ValueError(f"AUs {sorted(detected - set(names))} detected but not in the vocabulary {names}")
        return cls(aus, tuple(n in detected for n in names), tuple(float(record["thresholds"][n]) for n in names),
                   dict(record.get("skipped", {})), int(record["min_positives"]),
                   tuple(int(record["positives"][n]) for n in names), int(record["train_clips"]))

    def restricted(self, keep: np.ndarray, why: str) -> AuDecision:
        """This decision with only the detected AUs also in ``keep`` (K,) detected; the others skipped for ``why``."""
        active = np.asarray(self.active, bool) & np.asarray(keep, bool)
        dropped = {name: why for name, was, now in zip(self.names, self.active, active) if was and not now}
        return replace(self, active=tuple(bool(a) for a in active), skipped={**self.skipped, **dropped})

    def summary(self) -> str:
        """One line: the AUs detected and skipped (with why)."""
        skipped = "; ".join(f"{name} ({why})" for name, why in self.skipped.items())
        return (f"{len(self.detected)} of {len(self.aus)} AUs detected ({', '.join(self.detected) or 'none'}), "
                f"present where the probability > {THRESHOLD}" + (f"; skipped: {skipped}" if skipped else ""))


# ---- python -m mer_ray.fit --task au ----------------------------------------------------------------------------


def task_option(args, run_spec) -> str:
    """The fit's task, checked before any features are loaded: ``--task`` (default ``emotion``), or with
    ``--from-run`` the run's (run.json ``run_spec``: a different ``--task``, and ``--aus`` / ``--au-min-positives``,
    are refused: the run's targets are taken). Raises ``UsageError`` / ``AuTaskError`` (one line)."""
    from mer_ray.evaluation.au_task import parse_aus
    from mer_ray.infra.errors import UsageError

    given = getattr(args, "task", None)
    task = (given or "emotion") if run_spec is None else run_spec.task
    if run_spec is not None and given and given != task:
        raise UsageError(f"--from-run {args.from_run} is a --task {task} run; got --task {given}: drop --task (a "
                         "bundle is fitted for its run's task)")
    for option in ("aus", "au_min_positives"):
        if getattr(args, option, None) is None:
            continue
        flag = f"--{option.replace('_', '-')}"
        if run_spec is not None:
            raise UsageError(f"{flag}: --from-run takes the run's AU targets (its run.json); drop it, or fit with "
                             "--search SPACE --task au")
        if task != "au":
            raise UsageError(f"{flag} sets the AU detection targets: it needs --task au")
    parse_aus(getattr(args, "aus", None))
    minimum = getattr(args, "au_min_positives", None)
    if minimum is not None and minimum < 1:
        raise UsageError(f"--au-min-positives {minimum}: expected an integer >= 1")
    return task


def fit_task(args, run_spec, features: FeatureSet) -> tuple[FeatureSet, AuTask | None, list[str]]:
    """``(features, task, notes)`` of a fit (:func:`task_option`; ``task`` None for emotion): under ``au`` the
    clips with AU codes, after refusing a dataset without any (:func:`mer_ray.search.checks.au_features`), and the
    AU targets: the run's vocabulary and skip rule, else ``--aus`` (default: the most frequent) and
    ``--au-min-positives`` (default as ``mer_ray.loso``'s). Raises ``UsageError`` / ``AuTaskError`` (one line)."""
    from mer_ray.evaluation.au_task import DEFAULT_MIN_POSITIVES, AuTaskError, parse_aus, vocabulary
    from mer_ray.search.checks import au_features

    if task_option(args, run_spec) != "au":
        return features, None, []
    features, dropped = au_features(features)
    notes = [f"{dropped} clips without an AU code were left out of the fit"] if dropped else []
    if run_spec is not None:
        try:
            aus = vocabulary(features.meta, run_spec.aus)
        except AuTaskError as err:
            raise AuTaskError(f"--from-run {args.from_run}: the run's AUs do not fit these features: "
                              f"{str(err).removeprefix('--aus: ')}") from None
        return features, AuTask(aus, run_spec.au_min_positives), notes
    minimum = args.au_min_positives
    if minimum is None:  # as RunSpec.from_args: a smoke test's handful of clips rarely has 3 positives
        minimum = 1 if args.smoke_test else DEFAULT_MIN_POSITIVES
    return features, AuTask(vocabulary(features.meta, parse_aus(args.aus)), minimum), notes


# ---- python -m mer_ray.predict with an AU bundle ----------------------------------------------------------------


def au_row(names: list[str], y_pred: np.ndarray | None = None, scores: np.ndarray | None = None) -> dict[str, Any]:
    """predict's AU columns of one clip: ``aus``, the AUs detected (``"AU1+AU12"``, "" when none), then per AU
    ``AU12_p`` (its probability; None for a skipped AU or input) and ``AU12`` (1 present, 0 absent; None
    likewise)."""
    row: dict[str, Any] = {"aus": "+".join(n for k, n in enumerate(names) if y_pred is not None and y_pred[k] == 1)}
    for k, name in enumerate(names):
        scored = y_pred is not None and y_pred[k] != SKIPPED
        row[f"{name}_p"] = float(scores[k]) if scored else None
        row[name] = int(y_pred[k]) if scored else None
    return row


def au_line(row: dict[str, Any], names: list[str]) -> str:
    """predict's summary of one predicted clip: the AUs detected, then every AU's probability."""
    probabilities = ", ".join(f"{n} skipped" if pd.isna(row[f"{n}_p"]) else f"{n} {row[f'{n}_p']:.3f}"
                              for n in names)
    return f"AUs {row['aus'].replace('+', ', ') or 'none'} ({probabilities})"


def card_lines(info: dict[str, Any]) -> list[str]:
    """The model card's AU section: per AU its positives, threshold, detected or skipped (why)."""
    au = info["au"]
    lines = ["", "## Action units", "", f"An AU is present where {au['threshold_rule']}. An AU with fewer than "
             f"{au['min_positives']} positive (or negative) training clips is skipped: no detector, empty columns in "
             "predict's table.", "", "| AU | positive training clips | threshold | detected |", "|---|---|---|---|"]
    for name in au["names"]:
        state = "yes" if name in au["detected"] else f"skipped: {au['skipped'].get(name, 'no detector')}"
        lines.append(f"| {name} | {au['positives'][name]} of {au['train_clips']} | {au['thresholds'][name]:g} | "
                     f"{state} |")
    return lines
