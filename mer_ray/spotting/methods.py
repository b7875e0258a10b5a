"""The spotters ``python -m mer_ray.spot --search NAME`` runs, as one fold function each: ``SPOTTERS``.

A fold gets every video's motion summary, the annotations and the held-out subject; it chooses its settings on
the OTHER subjects only and returns the held-out subject's spotted intervals, the settings it chose and a
per-frame spotting score for the timeline plots (:class:`FoldOutcome`).

- ``baseline``: the MEGC baseline (``baseline.py``), thresholds and smoothing chosen by ``evaluate.choose`` on the
  training subjects; the timeline score is the smoothed micro score (the macro one beside it).
- ``learned``: the per-frame classifier (``learned.py``); the timeline score is P(micro) and P(macro).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

from mer_ray.spotting.data import MotionSummary, ks_for
from mer_ray.spotting.intervals import Interval


@dataclass
class FoldOutcome:
    subject: str
    intervals: dict[str, list[Interval]]  # held-out video -> spotted intervals
    settings: dict  # what the fold chose on its training subjects
    train_f1: float  # the chosen settings' pooled overall F1 on the training subjects (inner, for learned)
    curves: dict[str, dict[str, list[float]]] = field(default_factory=dict)  # video -> name -> per-frame values
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return {
            "subject": self.subject, "settings": self.settings, "train_f1": self.train_f1, "seconds": self.seconds,
            "intervals": {v: [[i.onset, i.offset, i.kind, i.score] for i in items]
                          for v, items in self.intervals.items()},
            "curves": self.curves,
        }

    @classmethod
    def from_dict(cls, d: dict) -> FoldOutcome:
        return cls(subject=d["subject"], settings=d["settings"], train_f1=d["train_f1"], seconds=d["seconds"],
                   intervals={v: [Interval(int(a), int(b), kind, score=float(s)) for a, b, kind, s in items]
                              for v, items in d["intervals"].items()},
                   curves=d.get("curves", {}))


def _curve(values: np.ndarray) -> list[float]:
    return [None if not np.isfinite(v) else round(float(v), 5) for v in values]


def baseline_fold(summaries: Mapping[str, MotionSummary], truth: Mapping[str, list[Interval]],
                  subject_of: Mapping[str, str], held_out: str, fps: float, seed: int = 0) -> FoldOutcome:
    from mer_ray.spotting.baseline import SpotterConfig, smooth
    from mer_ray.spotting.evaluate import choose, spot_all

    start = time.process_time()
    k_micro, k_macro = ks_for(fps)
    top = 4
    micro, macro = SpotterConfig.micro_for(fps, k=k_micro), SpotterConfig.macro_for(fps, k=k_macro)
    train = sorted(k for k in summaries if subject_of[k] != held_out)
    test = sorted(k for k in summaries if subject_of[k] == held_out)
    mi, ma, f1 = choose(summaries, {k: truth.get(k, []) for k in train}, train, micro, macro, top)
    spotted = spot_all(summaries, test, mi, ma, top)
    curves = {k: {"micro score": _curve(smooth(summaries[k].scores(k_micro, top), mi.smooth)),
                  "macro score": _curve(smooth(summaries[k].scores(k_macro, top), ma.smooth))} for k in test}
    settings = {"micro_p": mi.p, "micro_smooth": mi.smooth, "macro_p": ma.p, "macro_smooth": ma.smooth}
    return FoldOutcome(held_out, spotted, settings, float(f1), curves, time.process_time() - start)


def learned_fold(summaries: Mapping[str, MotionSummary], truth: Mapping[str, list[Interval]],
                 subject_of: Mapping[str, str], held_out: str, fps: float, seed: int = 0) -> FoldOutcome:
    from mer_ray.spotting.learned import LearnedConfig
    from mer_ray.spotting.learned import learned_fold as fit_and_spot

    start = time.process_time()
    fold = fit_and_spot(summaries, truth, subject_of, held_out, fps, LearnedConfig(seed=seed))
    curves = {k: {"P(micro)": _curve(p[:, 1]), "P(macro)": _curve(p[:, 2])} for k, p in fold.probabilities.items()}
    settings = {"micro": fold.micro.to_dict(), "macro": fold.macro.to_dict()}
    return FoldOutcome(held_out, fold.intervals, settings, float(fold.inner_f1), curves,
                       time.process_time() - start)


SPOTTERS: dict[str, Callable[..., FoldOutcome]] = {"baseline": baseline_fold, "learned": learned_fold}
DESCRIPTIONS = {
    "baseline": "MEGC baseline: relative threshold on the flow-contrast score, peaks -> intervals (p and smoothing "
                "chosen on the training subjects)",
    "learned": "per-frame logistic regression over windowed flow-contrast features and per-region motion "
               "(direction, symmetry, return to neutral, head motion, deformation), trained on the training "
               "subjects' annotations; interval rules (threshold, smoothing, peak / run / extent, or no micro spots) "
               "chosen by inner LOSO interval F1 on the training subjects",
}


def list_spotters() -> list[str]:
    return sorted(SPOTTERS)
