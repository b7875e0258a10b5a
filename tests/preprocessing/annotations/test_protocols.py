from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from preprocessing.annotations.datasets import scan_dataset
from preprocessing.annotations.protocols import EMOTION_TO_CLASS, apply_protocol, default_protocol, list_protocols
from preprocessing.annotations.sample import DatasetScan, Sample

# The MEGC2019 mapping (README, "Datasets and protocols"), written out independently of the implementation.
DESIGN_CLASSES = {
    "casme2": {"disgust": 0, "repression": 0, "happiness": 1, "surprise": 2},
    "samm": {"anger": 0, "contempt": 0, "disgust": 0, "fear": 0, "sadness": 0, "happiness": 1, "surprise": 2},
    "smic": {"negative": 0, "positive": 1, "surprise": 2},
}


def sample(dataset="casme2", subject="casme2/sub01", clip="EP01", emotion="happiness", onset=10, apex=12, offset=14):
    return Sample(dataset, subject, clip, emotion, onset, apex, offset, frames=(f"/d/{clip}/img{onset}.jpg",),
                  frame_numbers=(onset,))


def scans(*samples: Sample, datasets=("casme2", "samm", "smic")) -> list[DatasetScan]:
    return [DatasetScan(d, Path("/d"), [s for s in samples if s.dataset == d]) for d in datasets]


def test_mapping_matches_design():
    for dataset, classes in DESIGN_CLASSES.items():
        labelled = {e: c for e, c in EMOTION_TO_CLASS[dataset].items() if c is not None}
        assert labelled == classes, dataset
    assert {e: c for e, c in EMOTION_TO_CLASS["mmew"].items() if c is not None} == DESIGN_CLASSES["samm"]


def test_rules_and_reasons():
    given = [
        sample(clip="OK"),
        sample(clip="OTHERS", emotion="others"),
        sample(clip="TYPO", emotion="hapiness"),
        sample(clip="SLASH", emotion="disgust", apex=None),
        sample(clip="FLAT", emotion="disgust", apex=10),
        sample("samm", "samm/006", "006_1_2", "other"),
        sample("samm", "samm/006", "006_1_3", "contempt"),
        sample("smic", "smic/s01", "s01_sur_01", "surprise", apex=None),
    ]
    result = apply_protocol("megc2019", scans(*given))
    assert [(s.clip, s.label) for s in result.samples] == [("OK", 1), ("006_1_3", 0), ("s01_sur_01", 2)]
    assert {e.clip: e.reason for e in result.exclusions} == {
        "OTHERS": "emotion 'others' is not in the 3-class protocol",
        "TYPO": "unknown emotion: 'hapiness' (casme2 emotions: disgust, fear, happiness, others, repression, "
                "sadness, surprise)",
        "SLASH": "apex missing in the sheet ('/' or blank)",
        "FLAT": "apex equals onset: both frame 10",
        "006_1_2": "emotion 'other' is not in the 3-class protocol",
    }
    assert {e.stage for e in result.exclusions} == {"protocol"}
    assert given[0].label is None  # labels are set on copies
    groups = result.exclusion_groups("casme2")
    assert sorted(g.cause for g in groups) == ["apex equals onset", "apex missing in the sheet ('/' or blank)",
                                               "emotion 'others' is not in the 3-class protocol", "unknown emotion"]


def test_adapter_exclusions_are_kept_and_duplicates_dropped():
    from preprocessing.annotations.sample import Exclusion

    first = scans(sample(clip="A"), sample(clip="A", emotion="surprise"))
    first[0].exclusions.append(Exclusion("casme2", "casme2/sub01", "B", "frames", "clip folder missing: B"))
    result = apply_protocol("megc2019", first)
    assert [(s.clip, s.label) for s in result.samples] == [("A", 1)]
    assert [e.reason for e in result.exclusions] == ["clip folder missing: B",
                                                     "duplicate clip: casme2/sub01/A (first one kept)"]


def test_protocol_errors():
    with pytest.raises(ValueError, match="unknown protocol 'megc'; valid protocols: megc2019, 3class"):
        apply_protocol("megc", [])
    assert list_protocols() == ["megc2019", "3class"]
    assert default_protocol(["smic", "casme2", "samm"]) == "megc2019"
    assert default_protocol(["casme2", "samm"]) == default_protocol(["casme2", "samm", "smic", "mmew"]) == "3class"
    with pytest.raises(ValueError, match=r"protocol megc2019 is the composite of casme2, samm, smic \(missing smic; "
                                         r"not part of it: mmew\); use --protocol 3class"):
        apply_protocol("megc2019", scans(datasets=("casme2", "samm", "mmew")))
    with pytest.raises(ValueError, match="dataset\\(s\\) given more than once: casme2"):
        apply_protocol("3class", scans(datasets=("casme2", "casme2")))
    with pytest.raises(ValueError, match="no 3-class mapping for dataset\\(s\\) casme4"):
        apply_protocol("3class", scans(datasets=("casme4",)))


def test_megc2019_reproduces_the_official_list(megc_tree, official):
    result = apply_protocol("megc2019", [scan_dataset(name, root) for name, root in megc_tree.items()])
    ours = {(s.dataset, s.subject.split("/")[1], s.clip, s.label) for s in result.samples}
    theirs = {(d, f"{int(subject):03d}" if d == "samm" else subject, c, label) for d, subject, c, label in official}
    assert ours == theirs
    assert len(result.samples) == 442 and len(result.subjects()) == 68
    assert result.class_counts() == {"negative": 250, "positive": 109, "surprise": 83}
    per_dataset = {d: (len(result.samples_of(d)), len(result.subjects(d))) for d in result.datasets}
    assert per_dataset == {"casme2": (145, 24), "samm": (133, 28), "smic": (164, 16)}
    # the single-dataset protocol gives the same slice
    alone = apply_protocol("3class", [scan_dataset("casme2", megc_tree["casme2"])])
    assert [(s.sample_id, s.label) for s in alone.samples] == [
        (s.sample_id, s.label) for s in result.samples if s.dataset == "casme2"]
    causes = Counter((e.dataset, e.reason.partition(":")[0]) for e in result.exclusions)
    assert causes[("casme2", "apex missing in the sheet ('/' or blank)")] == 1  # sub04 EP12_01f
    assert causes[("casme2", "apex equals onset")] == 1  # sub05 EP09_05f
