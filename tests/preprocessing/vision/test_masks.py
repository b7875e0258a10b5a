"""Motion masks built from real dlib landmarks of an aligned face."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from preprocessing.vision.masks import MaskConfig, build_mask
from tests.preprocessing._faces import aligned_astronaut


def _inside(mask: np.ndarray, point: np.ndarray) -> int:
    x, y = np.round(point).astype(int)
    return int(mask[y, x])


def test_eyes_are_masked_out():
    _, landmarks = aligned_astronaut()
    mask = build_mask(landmarks, 224)
    assert mask.dtype == np.uint8 and set(np.unique(mask)) == {0, 1}
    for eye in (landmarks[36:42], landmarks[42:48]):
        hull = np.zeros_like(mask)
        cv2.fillConvexPoly(hull, cv2.convexHull(np.round(eye).astype(np.int32)), 1)
        assert mask[hull > 0].sum() == 0  # every pixel of the eye hull is masked out
        assert all(_inside(mask, p) == 0 for p in eye)


def test_expression_regions_are_kept():
    _, landmarks = aligned_astronaut()
    mask = build_mask(landmarks, 224)
    for index in (48, 54, 51, 57, 19, 24, 33):  # mouth corners, lips, brows, nose tip
        assert _inside(mask, landmarks[index]) == 1, index
    brow_top = landmarks[17:27, 1].min()
    assert _inside(mask, (landmarks[27, 0], brow_top - 10)) == 1  # forehead just above the brows


def test_outside_the_face_is_masked_out():
    _, landmarks = aligned_astronaut()
    mask = build_mask(landmarks, 224)
    assert mask[0, 0] == mask[0, -1] == mask[-1, 0] == mask[-1, -1] == 0
    assert _inside(mask, (landmarks[0, 0] - 8, landmarks[0, 1])) == 0  # beside the jaw line
    assert 0.3 < mask.mean() < 0.8


def test_regions_can_be_switched():
    _, landmarks = aligned_astronaut()
    everything = build_mask(landmarks, 224, MaskConfig(eyes=False, face_hull=False))
    assert everything.all()
    eyes_only = build_mask(landmarks, 224, MaskConfig(face_hull=False))
    assert eyes_only[0, 0] == 1 and _inside(eyes_only, landmarks[37]) == 0
    with_nose = build_mask(landmarks, 224, MaskConfig(nose=True))
    assert _inside(with_nose, landmarks[33]) == 0 and _inside(with_nose, landmarks[48]) == 1
    wider = build_mask(landmarks, 224, MaskConfig(eye_dilation_px=10))
    assert wider.sum() < build_mask(landmarks, 224).sum()


def test_pixel_margins_scale_with_the_face_size():
    _, landmarks = aligned_astronaut()
    full = build_mask(landmarks, 224)
    half = build_mask(landmarks / 2, 112)
    assert half.mean() == pytest.approx(full.mean(), abs=0.02)


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match=r"\(68, 2\) landmarks"):
        build_mask(np.zeros((5, 2)), 224)
    with pytest.raises(ValueError, match="eye_dilation_px=-1"):
        MaskConfig(eye_dilation_px=-1)
