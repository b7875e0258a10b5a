"""MEGC spotting evaluation: interval IoU, one-to-one matching, pooled TP / FP / FN, precision / recall / F1.

The protocol (MEGC 2019-2023 spotting tasks on CAS(ME)^2 and SAMM Long Videos):

- An interval is ``[onset, offset]`` in frame numbers, both ends included (``offset - onset + 1`` frames).
- ``IoU = |P ∩ G| / |P ∪ G|`` counted in frames (the MEGC scripts' ``calculate_IOU`` and the STRS script's
  ``np.intersect1d`` / ``np.union1d`` of ``arange(onset, offset + 1)``; identical for single intervals).
- A spotted interval P is a true positive when ``IoU(P, G) >= 0.5`` with a ground-truth interval G. The boundary
  counts: ``IoU == 0.5`` is a hit. Matching is one-to-one within a video: each ground-truth interval is matched
  at most once and each spotted interval at most once (the published scripts can count one spotted interval for
  two ground-truth ones; here the pairs are chosen by decreasing IoU, ties by onset, which gives the largest
  number of matches whenever intervals do not overlap heavily and is deterministic always).
- TP, FP (spotted, unmatched) and FN (ground truth, unmatched) are summed over ALL videos of the dataset before
  precision ``TP / (TP + FP)``, recall ``TP / (TP + FN)`` and ``F1 = 2PR / (P + R)`` are computed (pooled, not
  averaged per video or per subject). Empty denominators give 0.
- Micro and macro: every interval has a ``kind`` (``"micro"`` or ``"macro"``); a spotted micro interval is
  matched only against micro ground truth and a macro one against macro ground truth (the spotter says which it
  found, as MEGC entries do by running a micro and a macro detector). "Overall" pools the counts of both kinds:
  ``TP = TP_micro + TP_macro`` and so on. ``kind=None`` on a spotted interval matches either kind (a
  kind-agnostic spotter); it is then counted in the kind of the ground truth it hit, or as an FP of "any".

Spot-then-recognise (MEGC2023 STR task; Liong, See and Chan 2023, "Spot-then-recognize", the STRS metric as the
challenge's reference script computes it):

- Spotting F1 as above.
- Analysis: over the spotting TPs whose ground-truth emotion is one of the analysed emotions, one-vs-rest per
  emotion e: TP_e = predicted e and truth e; FP_e = predicted e, truth not e; FN_e = truth e, predicted not e.
  Precision and recall are averaged over the emotions (macro), and the analysis F1 is the harmonic mean of
  those two averages (not the mean of per-emotion F1s, which is reported as UF1; UAR is the mean recall).
  Missed intervals (spotting FNs) and false spots do not enter the analysis counts: they are paid for through
  the spotting F1.
- ``STRS = F1_spotting * F1_analysis``.

The reference script reports the mean of per-emotion PRECISIONS as its "UAR"; here ``uar`` is the mean recall
(the usual definition) and the difference is documented in docs/spotting.md.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

KINDS = ("micro", "macro")
IOU_THRESHOLD = 0.5


@dataclass(frozen=True)
class Interval:
    """A spotted or annotated interval, frames ``onset..offset`` inclusive."""

    onset: int
    offset: int
    kind: str | None = None  # "micro", "macro" or None (spotted by a kind-agnostic spotter)
    emotion: str | None = None  # the recognised (spotted) or annotated (truth) emotion, for STR scoring
    score: float = 0.0  # the spotter's confidence (ties in matching only)

    def __post_init__(self) -> None:
        if int(self.offset) < int(self.onset):
            raise ValueError(f"interval [{self.onset}, {self.offset}]: expected onset <= offset")
        if self.kind is not None and self.kind not in KINDS:
            raise ValueError(f"interval kind {self.kind!r}: expected one of {KINDS} or None")

    @property
    def length(self) -> int:
        return int(self.offset) - int(self.onset) + 1


def iou(a: Interval | Sequence[int], b: Interval | Sequence[int]) -> float:
    """Frame-count IoU of two inclusive intervals (0 when they do not overlap)."""
    a0, a1 = (a.onset, a.offset) if isinstance(a, Interval) else (a[0], a[1])
    b0, b1 = (b.onset, b.offset) if isinstance(b, Interval) else (b[0], b[1])
    inter = min(a1, b1) - max(a0, b0) + 1
    if inter <= 0:
        return 0.0
    union = (a1 - a0 + 1) + (b1 - b0 + 1) - inter
    return inter / union


@dataclass
class Counts:
    """Pooled TP / FP / FN with the derived precision, recall and F1."""

    tp: int = 0
    fp: int = 0
    fn: int = 0

    def __add__(self, other: Counts) -> Counts:
        return Counts(self.tp + other.tp, self.fp + other.fp, self.fn + other.fn)

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def as_dict(self) -> dict:
        return {"tp": self.tp, "fp": self.fp, "fn": self.fn, "precision": self.precision, "recall": self.recall,
                "f1": self.f1}


@dataclass
class Match:
    """The outcome of matching one video: pairs (spotted index, truth index, IoU) and the unmatched ones."""

    pairs: list[tuple[int, int, float]] = field(default_factory=list)
    false_spots: list[int] = field(default_factory=list)
    missed: list[int] = field(default_factory=list)


def match_video(spotted: Sequence[Interval], truth: Sequence[Interval],
                threshold: float = IOU_THRESHOLD) -> Match:
    """One-to-one matching of a video's spotted intervals to its ground truth (IoU >= ``threshold``).

    A spotted interval with a kind is matched only to truth of that kind; ``kind=None`` matches either. Pairs are
    taken greedily by decreasing IoU (ties: earlier truth onset, then earlier spotted onset, then higher score).
    """
    candidates = []
    for i, s in enumerate(spotted):
        for j, g in enumerate(truth):
            if s.kind is not None and g.kind is not None and s.kind != g.kind:
                continue
            value = iou(s, g)
            if value >= threshold:
                candidates.append((-value, g.onset, s.onset, -s.score, i, j))
    candidates.sort()
    used_s, used_g, out = set(), set(), Match()
    for neg, _, _, _, i, j in candidates:
        if i in used_s or j in used_g:
            continue
        used_s.add(i)
        used_g.add(j)
        out.pairs.append((i, j, -neg))
    out.pairs.sort(key=lambda p: (truth[p[1]].onset, p[1]))
    out.false_spots = [i for i in range(len(spotted)) if i not in used_s]
    out.missed = [j for j in range(len(truth)) if j not in used_g]
    return out


@dataclass
class SpottingResult:
    """Pooled counts per kind and overall, and the per-video matches (for inspection)."""

    micro: Counts
    macro: Counts
    overall: Counts
    matches: dict[str, Match]

    def as_dict(self) -> dict:
        return {"micro": self.micro.as_dict(), "macro": self.macro.as_dict(), "overall": self.overall.as_dict()}


def evaluate_spotting(spotted: Mapping[str, Sequence[Interval]], truth: Mapping[str, Sequence[Interval]],
                      threshold: float = IOU_THRESHOLD) -> SpottingResult:
    """MEGC spotting scores pooled over videos.

    Args:
        spotted: video id -> spotted intervals (a video missing here spotted nothing).
        truth: video id -> ground-truth intervals, each with ``kind`` "micro" or "macro". Every video evaluated
            must be a key here (one with no expression: an empty list); spotted videos missing from it raise.
        threshold: IoU needed for a hit (MEGC: 0.5, boundary included).

    Returns:
        Counts for micro, macro and overall (overall = micro + macro + kind-less false spots).
    """
    unknown = sorted(set(spotted) - set(truth))
    if unknown:
        raise KeyError(f"spotted videos without ground truth: {unknown[:5]}; give every evaluated video in truth "
                       "(an empty list when it has no expression)")
    per_kind = {kind: Counts() for kind in KINDS}
    anonymous_fp = 0
    matches = {}
    for video in sorted(truth):
        gt, sp = list(truth[video]), list(spotted.get(video, ()))
        for g in gt:
            if g.kind not in KINDS:
                raise ValueError(f"video {video}: ground truth [{g.onset}, {g.offset}] has kind {g.kind!r}; "
                                 f"expected one of {KINDS}")
        m = match_video(sp, gt, threshold)
        matches[video] = m
        for _, j, _ in m.pairs:
            per_kind[gt[j].kind].tp += 1
        for j in m.missed:
            per_kind[gt[j].kind].fn += 1
        for i in m.false_spots:
            if sp[i].kind is None:
                anonymous_fp += 1
            else:
                per_kind[sp[i].kind].fp += 1
    overall = per_kind["micro"] + per_kind["macro"] + Counts(fp=anonymous_fp)
    return SpottingResult(micro=per_kind["micro"], macro=per_kind["macro"], overall=overall, matches=matches)


@dataclass
class STRResult:
    """Spot-then-recognise scores (MEGC2023): spotting counts, analysis counts per emotion, STRS."""

    spotting: Counts
    analysis: dict[str, Counts]
    precision: float  # analysis: mean precision over the emotions
    recall: float  # analysis: mean recall over the emotions
    f1: float  # analysis: harmonic mean of the two means (the reference script's "F1-score analysis")
    uf1: float  # mean per-emotion F1
    uar: float  # mean per-emotion recall
    strs: float  # spotting F1 x analysis F1

    def as_dict(self) -> dict:
        return {"spotting": self.spotting.as_dict(), "analysis": {k: v.as_dict() for k, v in self.analysis.items()},
                "precision": self.precision, "recall": self.recall, "f1": self.f1, "uf1": self.uf1,
                "uar": self.uar, "strs": self.strs}


def evaluate_str(spotted: Mapping[str, Sequence[Interval]], truth: Mapping[str, Sequence[Interval]],
                 emotions: Iterable[str] | None = None, threshold: float = IOU_THRESHOLD,
                 kinds: Iterable[str] | None = None) -> STRResult:
    """MEGC2023 spot-then-recognise score (STRS) of spotted intervals that carry a recognised ``emotion``.

    Args:
        spotted: video id -> spotted intervals, each with ``emotion`` (the recogniser's class).
        truth: video id -> annotated intervals with ``emotion``.
        emotions: the analysed emotion classes (default: every emotion in the truth).
        threshold: spotting IoU threshold.
        kinds: restrict both sides to these kinds first (MEGC2023 STR scores micro-expressions: ``("micro",)``);
            None keeps every interval.
    """
    if kinds is not None:
        keep = set(kinds)
        truth = {v: [g for g in gs if g.kind in keep] for v, gs in truth.items()}
        spotted = {v: [s for s in ss if s.kind is None or s.kind in keep] for v, ss in spotted.items()}
    result = evaluate_spotting(spotted, truth, threshold)
    classes = sorted({g.emotion for gs in truth.values() for g in gs if g.emotion is not None}
                     if emotions is None else set(emotions))
    analysis = {e: Counts() for e in classes}
    for video, m in result.matches.items():
        sp, gt = list(spotted.get(video, ())), list(truth[video])
        for i, j, _ in m.pairs:
            true, pred = gt[j].emotion, sp[i].emotion
            if true not in analysis:
                continue
            for e, c in analysis.items():
                if pred == e and true == e:
                    c.tp += 1
                elif pred == e:
                    c.fp += 1
                elif true == e:
                    c.fn += 1
    n = max(len(classes), 1)
    precision = sum(c.precision for c in analysis.values()) / n
    recall = sum(c.recall for c in analysis.values()) / n
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    uf1 = sum(c.f1 for c in analysis.values()) / n
    return STRResult(spotting=result.overall, analysis=analysis, precision=precision, recall=recall, f1=f1,
                     uf1=uf1, uar=recall, strs=result.overall.f1 * f1)
