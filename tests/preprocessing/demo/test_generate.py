"""The generated demo: CASME II layout and sheet, class balance, detectability, determinism, exact ground truth."""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import pytest
from openpyxl import load_workbook

from preprocessing.annotations.sample import LABELS
from preprocessing.demo import (
    FRAMES_DIR,
    GROUND_TRUTH,
    REFERENCE_FACE,
    SHEET_NAME,
    SMALL_DEMO,
    DemoConfig,
    frame_flow,
    generate_demo,
    load_clip_truth,
)
from preprocessing.demo.faces import detect_landmarks
from preprocessing.demo.motions import EMOTIONS
from preprocessing.demo.planning import CLASS_SHARES, plan_demo
from tests.preprocessing.demo.conftest import tree_hashes

CASME2_EMOTIONS = {"happiness", "surprise", "disgust", "repression", "others", "fear", "sadness"}


def _sheet_rows(root: Path) -> list[tuple]:
    sheet = load_workbook(root / SHEET_NAME, read_only=True).worksheets[0]
    return list(sheet.iter_rows(values_only=True))


def _truth(root: Path) -> dict:
    return json.loads((root / GROUND_TRUTH).read_text())


def test_sheet_header_is_the_real_casme2_header(small_demo, reference_dir):
    real = load_workbook(reference_dir / "CASME2-coding-20140508.xlsx").worksheets[0]
    real_header = [cell.value for cell in real[1]]
    assert real_header[0] == "Subject" and len(real_header) == 9
    assert list(_sheet_rows(small_demo)[0]) == real_header
    assert load_workbook(small_demo / SHEET_NAME, read_only=True).sheetnames[0] == "Sheet1"


def test_sheet_rows_look_like_casme2_and_match_the_frames(small_demo):
    rows = _sheet_rows(small_demo)[1:]
    assert len(rows) == SMALL_DEMO["n_subjects"] * SMALL_DEMO["clips_per_subject"]
    for subject, clip, blank1, onset, apex, offset, blank2, aus, emotion in rows:
        assert isinstance(subject, str) and len(subject) == 2 and subject.isdigit()  # '01', like the real sheet
        assert blank1 is None and blank2 is None
        assert emotion in CASME2_EMOTIONS and emotion == emotion.lower()
        assert all(isinstance(n, int) for n in (onset, apex, offset)) and 1 < onset < apex < offset
        assert isinstance(aus, int) or "+" in aus  # a lone AU is a number, several are text, as in the real sheet
        assert tuple(int(a) for a in str(aus).split("+")) in EMOTIONS[emotion][1]
        folder = small_demo / FRAMES_DIR / f"sub{subject}" / clip
        numbers = sorted(int(p.stem.removeprefix("img")) for p in folder.glob("img*.jpg"))
        assert numbers == list(range(onset, offset + 1))  # the folder holds onset..offset


def test_frame_numbers_cross_a_digit_boundary(small_demo):
    rows = _sheet_rows(small_demo)[1:]
    assert any(onset < 100 <= offset for _, _, _, onset, _, offset, *_ in rows)


def test_action_units_agree_with_the_class():
    must_move = {"positive": 12, "surprise": 1}
    for label, choices in EMOTIONS.values():
        for aus in choices:
            if label == "negative":
                assert {4, 15} & set(aus) and 12 not in aus and 1 not in aus
            else:
                assert must_move[label] in aus


def test_default_demo_is_unbalanced_like_the_composite_set():
    config = DemoConfig()
    subjects, clips = plan_demo(0, config)
    assert len(subjects) >= 12
    counts = Counter(clip.label for clip in clips)
    assert set(counts) == set(LABELS)
    assert counts.most_common(1)[0][0] == "negative"
    for label, share in CLASS_SHARES.items():
        assert abs(counts[label] - share * len(clips)) <= 1
    for subject in subjects:  # clip names are unique within a subject
        names = [clip.clip for clip in clips if clip.subject == subject["name"]]
        assert len(set(names)) == len(names) == config.clips_per_subject
    assert all(config.min_frames <= clip.n_frames <= config.max_frames for clip in clips)
    assert all(0.5 <= clip.amplitude_224 <= 3.0 for clip in clips)
    assert sum(clip.blink_start >= 0 for clip in clips) > 0.15 * len(clips)  # blinks happen, in every class
    assert {clip.label for clip in clips if clip.blink_start >= 0} == set(LABELS)


def test_small_demo_has_every_class_and_negative_most(small_demo):
    counts = Counter(clip["label"] for clip in _truth(small_demo)["clips"])
    assert set(counts) == set(LABELS) and counts.most_common(1)[0][0] == "negative"


def _onset_frames(root: Path):
    for clip in _truth(root)["clips"]:
        path = root / FRAMES_DIR / clip["subject"] / clip["clip"] / f"img{clip['onset']}.jpg"
        yield clip, path, cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)


def test_dlib_finds_exactly_one_face_in_every_onset_frame(small_demo):
    for clip, path, grey in _onset_frames(small_demo):
        for upsample in (0, 1):
            found = detect_landmarks(grey, upsample)
            assert len(found) == 1, f"{path}: {len(found)} faces at upsampling {upsample}"
        error = np.abs(detect_landmarks(grey, 0)[0] - np.array(clip["landmarks_onset"])).mean()
        assert error < 5.0, f"{path}: dlib's landmarks are {error:.1f} px off the true ones"


def test_same_seed_gives_byte_identical_files(small_demo, tmp_path):
    again = generate_demo(tmp_path / "again", seed=0, **SMALL_DEMO)
    first, second = tree_hashes(small_demo), tree_hashes(again)
    assert len(first) > 50 and first == second


def test_another_seed_gives_another_dataset(small_demo, tmp_path):
    other = generate_demo(tmp_path / "other", seed=1, **SMALL_DEMO)
    assert _sheet_rows(other) != _sheet_rows(small_demo)
    first, second = tree_hashes(small_demo), tree_hashes(other)
    shared = set(first) & set(second)
    assert all(first[name] != second[name] for name in shared if name.endswith(".jpg"))


def test_ground_truth_records_are_complete(small_demo):
    truth = _truth(small_demo)
    assert len(truth["subjects"]) == SMALL_DEMO["n_subjects"]
    for clip in truth["clips"]:
        assert clip["onset"] < clip["apex"] < clip["offset"]
        assert EMOTIONS[clip["emotion"]][0] == clip["label"] and LABELS[clip["label_index"]] == clip["label"]
        assert clip["onset"] not in clip["blink_frames"]  # the onset frame is always open-eyed
        assert 0.5 <= clip["amplitude_224"] <= 3.0
        assert clip["amplitude_px"] == pytest.approx(clip["amplitude_224"] * clip["face_size_px"] / REFERENCE_FACE,
                                                     rel=1e-4)
        for key in ("asymmetry", "head_translation", "drift_translation", "noise_sigma", "base_face"):
            assert key in clip
        data = load_clip_truth(small_demo, clip["subject"], clip["clip"])
        peak = np.linalg.norm(data["micro"], axis=-1).max()
        assert peak == pytest.approx(clip["amplitude_px"], rel=0.01)  # rotation keeps lengths


def test_micro_field_is_the_apex_flow_without_head_motion(small_demo):
    clip = _truth(small_demo)["clips"][0]
    data = load_clip_truth(small_demo, clip["subject"], clip["clip"])
    total = frame_flow(data, clip["onset"], clip["apex"])
    rigid = total - data["micro"]
    # what is left is the head's rigid motion: an affine function of the position
    ys, xs = np.mgrid[0:total.shape[0], 0:total.shape[1]]
    design = np.stack([xs.ravel(), ys.ravel(), np.ones(xs.size)], axis=1)
    for c in range(2):
        coefficients, *_ = np.linalg.lstsq(design, rigid[..., c].ravel(), rcond=None)
        assert np.abs(design @ coefficients - rigid[..., c].ravel()).max() < 0.01


def test_written_frames_move_by_the_ground_truth(small_demo):
    """TV-L1 on the written JPEG frames (noise, light drift and all) recovers the ground-truth flow."""
    truth = _truth(small_demo)
    clip = max(truth["clips"], key=lambda c: c["amplitude_px"])
    folder = small_demo / FRAMES_DIR / clip["subject"] / clip["clip"]
    onset = cv2.imread(str(folder / f"img{clip['onset']}.jpg"), cv2.IMREAD_GRAYSCALE)
    apex = cv2.imread(str(folder / f"img{clip['apex']}.jpg"), cv2.IMREAD_GRAYSCALE)
    landmarks = np.array(clip["landmarks_onset"])
    x0, y0 = (landmarks.min(axis=0) - 10).astype(int)
    x1, y1 = (landmarks.max(axis=0) + 10).astype(int)
    flow = cv2.optflow.DualTVL1OpticalFlow_create().calc(onset[y0:y1, x0:x1], apex[y0:y1, x0:x1], None)
    expected = frame_flow(load_clip_truth(small_demo, clip["subject"], clip["clip"]), clip["onset"],
                          clip["apex"])[y0:y1, x0:x1]
    keep = np.ones(flow.shape[:2], np.uint8)
    for eye in (landmarks[36:42], landmarks[42:48]):  # blinks are not flow
        cv2.fillConvexPoly(keep, np.round(eye - [x0, y0]).astype(np.int32), 0)
    keep = cv2.erode(keep, np.ones((15, 15), np.uint8)).astype(bool)
    moving = keep & (np.linalg.norm(expected, axis=-1) > 0.5 * np.linalg.norm(expected, axis=-1).max())
    error = np.linalg.norm(flow - expected, axis=-1)
    assert np.median(error[moving]) < 0.35 < np.median(np.linalg.norm(expected, axis=-1)[moving])


@pytest.mark.slow
def test_full_default_demo(tmp_path):
    """The default demo: generation time, and dlib sees exactly one face in every onset frame."""
    start = time.perf_counter()
    root = generate_demo(tmp_path / "full", seed=0)
    seconds = time.perf_counter() - start
    print(f"default demo generated in {seconds:.1f} s")
    assert seconds < 120  # ~25-35 s on one loaded core here
    truth = _truth(root)
    assert len(truth["subjects"]) >= 12 and len(truth["clips"]) >= 100
    for _, path, grey in _onset_frames(root):
        for upsample in (0, 1):
            assert len(detect_landmarks(grey, upsample)) == 1, f"{path}: not exactly one face ({upsample=})"
