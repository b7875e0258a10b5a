"""Protocols: map each dataset's emotions to the 3 classes and select the clips, with a reason for every drop.

Labels: 0 negative, 1 positive, 2 surprise (``preprocessing.annotations.sample.LABELS``).

- ``megc2019``: the MEGC2019 composite (CASME II + SAMM + SMIC-HS, all three required). From the real sheets
  these rules select exactly the official 442 clips / 68 subjects: negative = CASME II disgust + repression,
  SAMM anger + contempt + disgust + fear + sadness, SMIC negative; positive = happiness (SMIC positive);
  surprise = surprise. Every other emotion is dropped, including CASME II's fear and sadness (unlike SAMM's:
  the official list leaves them out) and SAMM's "Other". A clip of a dataset that annotates apexes is dropped
  when its apex is missing (CASME II's ``/``) or equals its onset (no motion from onset to apex).
- ``3class``: the same mapping and rules for any single dataset or subset (also MMEW and the demo dataset),
  so a dataset's slice is identical under both protocols. The datasets outside MEGC2019 map their own
  vocabularies the same way: CASME (I) and MMEW like SAMM (anger, contempt, disgust, fear, sadness and, in
  CASME, repression negative; happiness positive; tense / others dropped), CAS(ME)^3 (happy positive; anger,
  disgust, fear, sad negative; others dropped), 4DME (positive, negative, surprise; repression negative as in
  CASME II; others and cells naming several categories dropped), the multi-layout demo like the release whose
  layout it copies.

Exclusion reasons read ``"<cause>"`` or ``"<cause>: <detail>"``; summaries group by the cause.
"""

from __future__ import annotations

import dataclasses
import os
from collections import Counter
from dataclasses import dataclass, field

from preprocessing.annotations.sample import LABELS, DatasetScan, Exclusion, Sample

NEGATIVE, POSITIVE, SURPRISE = 0, 1, 2

_SAMM_LIKE = {"anger": NEGATIVE, "contempt": NEGATIVE, "disgust": NEGATIVE, "fear": NEGATIVE, "sadness": NEGATIVE,
              "happiness": POSITIVE, "surprise": SURPRISE}
_CASME2 = {"disgust": NEGATIVE, "repression": NEGATIVE, "happiness": POSITIVE, "surprise": SURPRISE,
           "fear": None, "sadness": None, "others": None}

# dataset -> its emotion vocabulary (lower case) -> 3-class label, or None for a known emotion the protocol drops.
# An emotion missing here is unknown to the dataset (a typo or another release): excluded as such.
EMOTION_TO_CLASS: dict[str, dict[str, int | None]] = {
    "casme2": _CASME2,
    "samm": {**_SAMM_LIKE, "other": None},
    "smic": {"negative": NEGATIVE, "positive": POSITIVE, "surprise": SURPRISE},
    "mmew": {**_SAMM_LIKE, "others": None},
    "demo": _CASME2,  # synthetic CASME II layout
    "casme": {**_SAMM_LIKE, "repression": NEGATIVE, "amusement": POSITIVE, "tense": None, "others": None},
    "casme3": {"happy": POSITIVE, "anger": NEGATIVE, "disgust": NEGATIVE, "fear": NEGATIVE, "sad": NEGATIVE,
               "surprise": SURPRISE, "others": None},
    "fourdme": {"positive": POSITIVE, "negative": NEGATIVE, "surprise": SURPRISE, "repression": NEGATIVE,
                "others": None},
}
# The multi-layout demo (preprocessing.demo.layouts): each layout's dataset speaks its release's vocabulary.
EMOTION_TO_CLASS.update({"demo-casme2": _CASME2, "demo-samm": EMOTION_TO_CLASS["samm"],
                         "demo-casme3": EMOTION_TO_CLASS["casme3"]})
# CAS(ME)^3 part C: part A's vocabulary (assumed); not in APEX_ANNOTATED, its sheet may have no apex column.
EMOTION_TO_CLASS["casme3c"] = EMOTION_TO_CLASS["casme3"]

# Datasets whose sheets give every clip an apex: a missing one there is a defect, not "to be spotted" as in SMIC.
APEX_ANNOTATED = frozenset({"casme2", "samm", "mmew", "demo", "casme", "casme3", "fourdme", "demo-casme2",
                            "demo-samm", "demo-casme3"})

MEGC2019_DATASETS = ("casme2", "samm", "smic")

PROTOCOLS = {
    "megc2019": "MEGC2019 composite 3-class: CASME II + SAMM + SMIC-HS (442 clips, 68 subjects)",
    "3class": "the MEGC2019 3-class mapping and rules for any dataset or subset",
}


def list_protocols() -> list[str]:
    """Names of the protocols."""
    return list(PROTOCOLS)


def default_protocol(datasets: list[str]) -> str:
    """``megc2019`` when exactly its three datasets are given, else ``3class`` (same mapping, any subset)."""
    return "megc2019" if sorted(datasets) == sorted(MEGC2019_DATASETS) else "3class"


@dataclass(frozen=True)
class ExclusionGroup:
    """Excluded clips of one dataset that share a stage and a cause."""

    dataset: str
    stage: str
    cause: str
    exclusions: list[Exclusion]


def reason_cause(reason: str) -> str:
    """The part of an exclusion reason shared by every clip excluded for the same cause (before ``": "``)."""
    return reason.partition(": ")[0]


@dataclass
class ProtocolResult:
    """Selected, labelled samples plus every excluded clip (adapter and protocol exclusions)."""

    protocol: str
    scans: list[DatasetScan]
    samples: list[Sample] = field(default_factory=list)
    exclusions: list[Exclusion] = field(default_factory=list)

    @property
    def datasets(self) -> list[str]:
        """Dataset names, in the order they were given."""
        return [scan.dataset for scan in self.scans]

    def samples_of(self, dataset: str | None = None) -> list[Sample]:
        """Selected samples of one dataset (all when ``None``)."""
        return [s for s in self.samples if dataset is None or s.dataset == dataset]

    def subjects(self, dataset: str | None = None) -> list[str]:
        """Sorted namespaced subject ids of the selected samples."""
        return sorted({s.subject for s in self.samples_of(dataset)})

    def class_counts(self, dataset: str | None = None) -> dict[str, int]:
        """Selected clips per class name (every class present, zero included)."""
        counts = Counter(s.label for s in self.samples_of(dataset))
        return {name: counts.get(label, 0) for label, name in enumerate(LABELS)}

    def exclusions_of(self, dataset: str | None = None) -> list[Exclusion]:
        """Excluded clips of one dataset (all when ``None``)."""
        return [e for e in self.exclusions if dataset is None or e.dataset == dataset]

    def exclusion_groups(self, dataset: str | None = None) -> list[ExclusionGroup]:
        """Exclusions grouped by (dataset, stage, cause), largest group first within each dataset."""
        groups: dict[tuple[str, str, str], list[Exclusion]] = {}
        for exclusion in self.exclusions_of(dataset):
            key = (exclusion.dataset, exclusion.stage, reason_cause(exclusion.reason))
            groups.setdefault(key, []).append(exclusion)
        order = {name: i for i, name in enumerate(self.datasets)}
        ranked = sorted(groups.items(), key=lambda kv: (order.get(kv[0][0], len(order)), -len(kv[1]), kv[0]))
        return [ExclusionGroup(d, stage, cause, members) for (d, stage, cause), members in ranked]


def check_protocol(name: str, datasets: list[str]) -> None:
    """Check, before any scanning, that protocol ``name`` exists and accepts these datasets.

    Raises:
        ValueError: unknown protocol (lists the valid ones), a dataset given twice, a dataset without a mapping,
            or megc2019 without exactly its three datasets.
    """
    if name not in PROTOCOLS:
        raise ValueError(f"unknown protocol {name!r}; valid protocols: {', '.join(PROTOCOLS)}")
    names = list(datasets)
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ValueError(f"protocol {name}: dataset(s) given more than once: {', '.join(repeated)}")
    unmapped = [n for n in names if n not in EMOTION_TO_CLASS]
    if unmapped:
        raise ValueError(f"protocol {name}: no 3-class mapping for dataset(s) {', '.join(unmapped)}; "
                         f"mapped datasets: {', '.join(EMOTION_TO_CLASS)}")
    if name == "megc2019":
        missing = [n for n in MEGC2019_DATASETS if n not in names]
        extra = [n for n in names if n not in MEGC2019_DATASETS]
        if missing or extra:
            problems = "; ".join(p for p in (f"missing {', '.join(missing)}" if missing else "",
                                             f"not part of it: {', '.join(extra)}" if extra else "") if p)
            raise ValueError(f"protocol megc2019 is the composite of {', '.join(MEGC2019_DATASETS)} ({problems}); "
                             "use --protocol 3class for another dataset or a subset")


def label_sample(sample: Sample) -> Sample | Exclusion:
    """Apply the 3-class mapping and apex rules to one sample: the labelled Sample, or its Exclusion.

    Raises:
        ValueError: the sample's dataset has no mapping in :data:`EMOTION_TO_CLASS`.
    """
    mapping = EMOTION_TO_CLASS.get(sample.dataset)
    if mapping is None:
        raise ValueError(f"no 3-class mapping for dataset {sample.dataset!r}; mapped: {', '.join(EMOTION_TO_CLASS)}")
    path = os.path.dirname(sample.frames[0]) if sample.frames else ""

    def exclude(reason: str) -> Exclusion:
        return Exclusion(sample.dataset, sample.subject, sample.clip, "protocol", reason, path)

    if sample.emotion not in mapping and "+" in sample.emotion:
        return exclude(f"several emotions: {sample.emotion!r} (one category per clip is needed)")
    if sample.emotion not in mapping:
        return exclude(f"unknown emotion: {sample.emotion!r} ({sample.dataset} emotions: {', '.join(sorted(mapping))})")
    label = mapping[sample.emotion]
    if label is None:
        return exclude(f"emotion {sample.emotion!r} is not in the 3-class protocol")
    if sample.apex is None and sample.dataset in APEX_ANNOTATED:
        return exclude("apex missing in the sheet ('/' or blank)")
    if sample.apex is not None and sample.apex == sample.onset:
        return exclude(f"apex equals onset: both frame {sample.onset}")
    return dataclasses.replace(sample, label=label)


def apply_protocol(name: str, scans: list[DatasetScan]) -> ProtocolResult:
    """Label and select the scanned samples under protocol ``name``.

    Args:
        name: ``"megc2019"`` (needs exactly casme2, samm and smic) or ``"3class"`` (any mapped datasets).
        scans: adapter results, one per dataset.

    Returns:
        The selected samples (``label`` set) in scan order, and the adapters' exclusions followed by the
        protocol's own (stage ``"protocol"``).

    Raises:
        ValueError: unknown protocol (lists the valid ones), a dataset given twice, a dataset without a mapping,
            or megc2019 without exactly its three datasets.
    """
    check_protocol(name, [scan.dataset for scan in scans])
    result = ProtocolResult(protocol=name, scans=scans)
    seen: set[str] = set()
    for scan in scans:
        result.exclusions.extend(scan.exclusions)
        for sample in scan.samples:
            if sample.sample_id in seen:
                result.exclusions.append(Exclusion(sample.dataset, sample.subject, sample.clip, "protocol",
                                                   f"duplicate clip: {sample.sample_id} (first one kept)"))
                continue
            seen.add(sample.sample_id)
            outcome = label_sample(sample)
            (result.samples if isinstance(outcome, Sample) else result.exclusions).append(outcome)
    return result
