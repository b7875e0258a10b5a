"""The hard preset: class structure and annotation errors from the plan (cheap), and a small rendered variant."""

from __future__ import annotations

import json
import math
import time
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import pytest
from openpyxl import load_workbook

from preprocessing.annotations.datasets import parse_dataset_options
from preprocessing.annotations.datasets.demo import demo_size, scan
from preprocessing.annotations.protocols import apply_protocol
from preprocessing.annotations.sample import LABELS
from preprocessing.demo import (
    FRAMES_DIR,
    GROUND_TRUTH,
    MANIFEST,
    PRESETS,
    SHEET_NAME,
    SMALL_DEMO,
    VERSION,
    default_root,
    frame_flow,
    generate_demo,
    is_current,
    load_clip_truth,
    make_config,
)
from preprocessing.demo.config import HARD_VERSION
from preprocessing.demo.faces import BASE_FACES, detect_landmarks, identity_faces, person
from preprocessing.demo.hard import CLASS_MIXTURES, DISTRACTORS, ONE_SIDED, sheet_action_units
from preprocessing.demo.motions import ACTION_UNITS, EMOTIONS
from preprocessing.demo.planning import plan_demo
from tests.preprocessing.demo.conftest import tree_hashes

EMOTION_CLASS = {"happiness": "positive", "surprise": "surprise", "disgust": "negative", "repression": "negative"}


@pytest.fixture(scope="module")
def hard_plan():
    return plan_demo(0, make_config("hard"))


@pytest.fixture(scope="module")
def large_plan():
    """~10,000 planned clips: rates are measurable (planning renders nothing: a second or two)."""
    return plan_demo(3, make_config("hard", n_subjects=99, clips_per_subject=100))[1]


@pytest.fixture(scope="module")
def hard_small(tmp_path_factory) -> Path:
    return generate_demo(tmp_path_factory.mktemp("hard") / "small", seed=0, preset="hard", **SMALL_DEMO)


def test_the_hard_preset_is_the_composite_scale():
    config = make_config("hard")
    assert config.preset == "hard" and 26 <= config.n_subjects <= 30 and config.clips_per_subject == 8
    assert (config.min_frames, config.max_frames) == (12, 24)
    assert config.amplitude[0] <= 0.15 and config.amplitude[1] >= 2.5
    assert 55 <= config.jpeg_quality_range[0] < config.jpeg_quality_range[1] <= 75
    assert make_config("hard", label_noise=0.1).label_noise == 0.1  # overrides on top of the preset
    assert set(PRESETS) == {"easy", "hard", "realistic"} and make_config("easy") == make_config()


def test_a_class_is_a_mixture_of_combinations_that_share_action_units(hard_plan):
    _, clips = hard_plan
    combos = defaultdict(Counter)
    for clip in clips:
        combos[clip.label][clip.action_units] += 1
    assert set(combos) == set(LABELS)
    for label in LABELS:
        assert len(combos[label]) >= 4, f"{label}: {dict(combos[label])}"
    classes_of = defaultdict(set)
    for label, counter in combos.items():
        for combo in counter:
            for au in combo:
                classes_of[au].add(label)
    shared = {au for au, labels in classes_of.items() if len(labels) >= 2}
    assert {1, 2} <= shared  # brows rise in surprise and in sadness / fear (negative)
    # and in the mixtures themselves: no AU decides a class alone
    mixture_classes = defaultdict(set)
    for label, mixture in CLASS_MIXTURES.items():
        for combo, _, emotion, _ in mixture:
            assert EMOTION_CLASS[emotion] == label and set(combo) <= set(ACTION_UNITS)
            for au in combo:
                mixture_classes[au].add(label)
    assert {au for au, labels in mixture_classes.items() if len(labels) >= 2} >= {1, 2, 12, 17, 24, 25}


def test_one_sided_combinations_are_one_sided(hard_plan):
    _, clips = hard_plan
    one_sided = {entry[0] for label in CLASS_MIXTURES for entry in CLASS_MIXTURES[label] if entry[3]}
    assert (14,) in one_sided and (12,) in one_sided  # contempt; a smirk is a smile's AU on one side
    smirks = [clip for clip in clips if clip.components and abs(clip.components[0][-1]) >= ONE_SIDED]
    assert smirks and all(clip.label == "negative" for clip in smirks)
    assert all(abs(clip.asymmetry) < ONE_SIDED for clip in clips)  # a two-sided AU is never that lopsided
    assert sheet_action_units([(14, 1, 0, 0, 0, 1, -ONE_SIDED)]) == "R14"
    assert sheet_action_units([(4, 1, 0, 0, 0, 1, 0.1), (14, 1, 0, 0, 0, 1, ONE_SIDED)]) == "4+L14"
    assert sheet_action_units([(12, 1, 0, 0, 0, 1, 0.2)]) == 12


def test_subjects_have_their_own_geometry_and_favourite_combinations(hard_plan):
    subjects, clips = hard_plan
    shifts = np.array([[s["style"]["aus"]["12"]["dx"], s["style"]["aus"]["12"]["dy"]] for s in subjects])
    assert 0.01 < shifts.std() < 0.05  # a few pixels at a 224-px face, different per subject
    preferences = np.array([s["style"]["preference"]["negative"] for s in subjects])
    assert np.allclose(preferences.sum(axis=1), 1) and preferences.std(axis=0).mean() > 0.03
    # a clip's components carry its subject's shift
    by_name = {s["name"]: s for s in subjects}
    for clip in clips[:20]:
        for au, _, dx, dy, *_ in clip.components:
            style = by_name[clip.subject]["style"]["aus"][str(int(au))]
            assert (dx, dy) == (style["dx"], style["dy"])


def test_identities_go_beyond_the_base_photos(hard_plan):
    subjects, _ = hard_plan
    faces = [s["base_face"] for s in subjects]
    # every subject its own identity while there are enough of them, then they repeat
    assert len(set(faces)) == min(len(faces), len(identity_faces()))
    assert sum(f.startswith("blend:") for f in faces) >= len(faces) // 2
    listed = identity_faces()
    assert set(BASE_FACES) < set(listed)
    assert all(person(f.split(":")[1]) != person(f.split(":")[2]) for f in listed if f.startswith("blend:"))
    # more photos in BASE_FACES would simply mean more identities
    assert len(identity_faces(("a", "a_mirror", "b", "c"), (50,))) == 4 + 10


def test_label_noise_at_the_configured_rate(large_plan):
    n = len(large_plan)
    flipped = [clip for clip in large_plan if clip.sheet_label != clip.label]
    rate, expected = len(flipped) / n, PRESETS["hard"]["label_noise"]
    assert abs(rate - expected) < 4 * math.sqrt(expected * (1 - expected) / n), rate
    for clip in large_plan:  # the sheet's emotion means the sheet's class; the true motion keeps its own
        assert EMOTION_CLASS[clip.sheet_emotion] == clip.sheet_label
        assert EMOTION_CLASS[clip.emotion] == clip.label
    clean = plan_demo(3, make_config("hard", n_subjects=10, clips_per_subject=20, label_noise=0.0))[1]
    assert all(clip.sheet_label == clip.label for clip in clean)


def test_apex_annotations_are_off_by_at_most_the_configured_frames(large_plan):
    jitter = PRESETS["hard"]["apex_jitter"]
    offsets = Counter(clip.sheet_apex_index - clip.apex_index for clip in large_plan)
    assert set(offsets) == set(range(-jitter, jitter + 1))  # every offset occurs, none beyond
    for clip in large_plan:  # clipped inside the clip: onset < sheet apex < offset
        assert 1 <= clip.sheet_apex_index <= clip.n_frames - 2
        assert clip.onset < clip.sheet_apex < clip.offset
    exact = plan_demo(3, make_config("hard", n_subjects=5, clips_per_subject=20, apex_jitter=0))[1]
    assert all(clip.sheet_apex == clip.apex for clip in exact)


def test_distractors_and_nods_happen_in_every_class(large_plan):
    config = make_config("hard")
    with_distractor = [clip for clip in large_plan if clip.distractor_kind]
    assert abs(len(with_distractor) / len(large_plan) - config.distractor_probability) < 0.03
    assert {clip.distractor_kind for clip in with_distractor} == set(DISTRACTORS)
    assert {clip.label for clip in with_distractor} == set(LABELS)
    nods = [clip for clip in large_plan if clip.nod_px]
    assert abs(len(nods) / len(large_plan) - config.nod_probability) < 0.03
    assert {clip.label for clip in nods} == set(LABELS)
    amplitudes = np.array([clip.amplitude_224 for clip in large_plan])
    assert (amplitudes < 0.3).mean() > 0.1 and amplitudes.max() > 2.5  # down to the noise floor


def test_the_easy_preset_refuses_hard_parameters():
    with pytest.raises(ValueError, match="only the hard preset uses them"):
        make_config(label_noise=0.1)
    with pytest.raises(ValueError, match="demo preset 'medium'"):
        make_config("medium")
    with pytest.raises(ValueError, match="label_noise"):
        make_config("hard", label_noise=0.7)


def test_the_easy_plan_is_unchanged_by_the_presets():
    _, clips = plan_demo(0, make_config())
    assert all(not clip.components and not clip.sheet_label and clip.sheet_apex == clip.apex for clip in clips)
    assert all(clip.action_units in EMOTIONS[clip.emotion][1] for clip in clips)


def test_hard_cache_key(monkeypatch, tmp_path):
    monkeypatch.setenv("MER_RAY_CACHE", str(tmp_path))
    assert default_root(0, "hard") == tmp_path / "demo" / f"v{VERSION}-seed0-hard{HARD_VERSION}"
    small = default_root(0, "hard", **SMALL_DEMO)
    assert small.name.startswith(f"v{VERSION}-seed0-hard{HARD_VERSION}-") and small != default_root(0, **SMALL_DEMO)


def test_small_hard_demo_records_truth_and_annotation(hard_small):
    manifest = json.loads((hard_small / MANIFEST).read_text())
    assert manifest["preset"] == "hard" and manifest["params"]["preset"] == "hard"
    assert is_current(hard_small, seed=0, preset="hard", **SMALL_DEMO)
    assert not is_current(hard_small, seed=0, **SMALL_DEMO)  # the easy demo of that size is another dataset
    truth = json.loads((hard_small / GROUND_TRUTH).read_text())
    rows = list(load_workbook(hard_small / SHEET_NAME, read_only=True).worksheets[0].iter_rows(values_only=True))[1:]
    sheet = {(f"sub{r[0]}", r[1]): r for r in rows}
    for clip in truth["clips"]:
        subject, name, _, onset, apex, offset, _, aus, emotion = sheet[(clip["subject"], clip["clip"])]
        assert (onset, offset) == (clip["onset"], clip["offset"])
        assert apex == clip["sheet_apex"] and abs(clip["sheet_apex"] - clip["apex"]) <= PRESETS["hard"]["apex_jitter"]
        assert emotion == clip["sheet_emotion"] and EMOTION_CLASS[emotion] == clip["sheet_label"]
        assert aus == clip["sheet_action_units"]
        assert EMOTION_CLASS[clip["emotion"]] == clip["label"]  # the true motion's class
        assert 55 <= clip["jpeg_quality"] <= 75
        data = load_clip_truth(hard_small, clip["subject"], clip["clip"])
        assert data["distractor"].shape == data["expression"].shape
        assert (np.abs(data["distractor"]).max() > 0) == bool(clip["distractor_kind"])
        assert np.abs(frame_flow(data, clip["onset"], clip["onset"])).max() < 1e-3


def test_the_adapter_reads_what_the_sheet_says(hard_small):
    result = scan(hard_small, small=True, preset="hard")
    truth = {(c["subject"], c["clip"]): c for c in json.loads((hard_small / GROUND_TRUTH).read_text())["clips"]}
    assert len(result.samples) == len(truth) and not result.exclusions
    assert "hard preset" in result.notes[0]
    for sample in result.samples:
        clip = truth[(sample.subject.removeprefix("demo/"), sample.clip)]
        assert (sample.apex, sample.emotion) == (clip["sheet_apex"], clip["sheet_emotion"])
    labels = {s.sample_id: s.label for s in apply_protocol("3class", [result]).samples}
    assert len(labels) == len(truth)


def test_dataset_options_select_the_preset():
    assert parse_dataset_options(["demo.preset=hard", "demo.seed=2"]) == {"demo": {"preset": "hard", "seed": 2}}
    assert demo_size(preset="hard") == {"preset": "hard"}
    assert demo_size(small=True, preset="hard") == {"preset": "hard", **SMALL_DEMO}
    assert demo_size() == {}


def test_hard_demo_onsets_are_detectable(hard_small):
    truth = json.loads((hard_small / GROUND_TRUTH).read_text())
    import cv2

    for clip in truth["clips"]:
        path = hard_small / FRAMES_DIR / clip["subject"] / clip["clip"] / f"img{clip['onset']}.jpg"
        found = detect_landmarks(cv2.imread(str(path), cv2.IMREAD_GRAYSCALE), 0)
        assert len(found) == 1, path


def test_same_seed_same_hard_files(hard_small, tmp_path):
    again = generate_demo(tmp_path / "again", seed=0, preset="hard", **SMALL_DEMO)
    first, second = tree_hashes(hard_small), tree_hashes(again)
    assert len(first) > 50 and first == second


@pytest.mark.slow
def test_full_hard_demo(tmp_path):
    """The hard preset at full size: generation time, every onset frame detectable."""
    import cv2

    start = time.perf_counter()
    root = generate_demo(tmp_path / "hard", seed=0, preset="hard")
    seconds = time.perf_counter() - start
    print(f"hard demo generated in {seconds:.1f} s")
    assert seconds < 300
    truth = json.loads((root / GROUND_TRUTH).read_text())
    assert len(truth["clips"]) == make_config("hard").n_clips
    for clip in truth["clips"]:
        path = root / FRAMES_DIR / clip["subject"] / clip["clip"] / f"img{clip['onset']}.jpg"
        assert len(detect_landmarks(cv2.imread(str(path), cv2.IMREAD_GRAYSCALE), 0)) == 1, path
