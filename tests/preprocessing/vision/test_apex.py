"""Apex spotting on a synthetic clip: a real aligned face whose expression ramps up then down, with a blink
and a brightness flicker as distractors."""

from __future__ import annotations

import functools

import cv2
import numpy as np
import pytest

from preprocessing.vision.apex import ApexConfig, motion_curve, spot_apex
from preprocessing.vision.masks import build_mask
from tests.preprocessing._faces import aligned_astronaut, expression_field, to_uint8, warp_exact

N_FRAMES, APEX, BLINK, FLICKER = 15, 8, 12, 3  # frame indices; 0 is the onset


@functools.cache
def _clip(blink: bool, drift: bool = False) -> tuple[tuple[np.ndarray, ...], np.ndarray]:
    """Frames 0..N-1 (0 = onset) of a 1-px expression peaking at APEX, and the face's mask.

    ``drift``: the head also slides 1 px right and the light grows 4% brighter on one side, steadily from onset to
    the last frame (what the onset-offset reference cancels).
    """
    face, landmarks = aligned_astronaut()
    rng = np.random.default_rng(7)
    field = expression_field(landmarks, face.shape, amplitude=1.0)  # (H, W, 2)
    profile = np.interp(np.arange(N_FRAMES), [0, APEX, N_FRAMES - 1], [0.0, 1.0, 0.2])
    eyes = np.zeros_like(face)
    for eye in (landmarks[36:42], landmarks[42:48]):
        cv2.fillConvexPoly(eyes, cv2.convexHull(np.round(eye).astype(np.int32)), 1)
    eyes = cv2.dilate(eyes, np.ones((5, 5), np.uint8)).astype(bool)
    frames = []
    ramp = np.linspace(-1, 1, face.shape[1], dtype=np.float32)[None, :]  # (1, W) left-right light gradient
    for t in range(N_FRAMES):
        progress = t / (N_FRAMES - 1)
        motion = profile[t] * field + (np.float32([1.0 * progress, 0.0]) if drift else 0)
        frame = warp_exact(face, motion)
        if drift:
            frame = frame * (1 + 0.04 * progress * ramp)
        if blink and t == BLINK:
            frame[eyes] = 60  # closed lids: a large, local intensity change
        if t == FLICKER:
            frame = frame + 12  # global brightness jump (lighting flicker)
        frames.append(to_uint8(frame + rng.normal(0, 1.5, frame.shape)))
    return tuple(frames), build_mask(landmarks, face.shape[0])


@pytest.mark.parametrize("reference", ["onset-offset", "onset"])
def test_apex_found_within_one_frame(reference):
    frames, mask = _clip(blink=True)
    index = spot_apex(frames[0], frames[1:], mask, ApexConfig(reference=reference))
    assert abs((index + 1) - APEX) <= 1


def test_onset_offset_reference_cancels_steady_drift():
    frames, mask = _clip(blink=False, drift=True)
    assert abs(spot_apex(frames[0], frames[1:], mask) + 1 - APEX) <= 1
    fooled = spot_apex(frames[0], frames[1:], mask, ApexConfig(reference="onset"))
    assert fooled + 1 > APEX + 2  # against the onset alone, the drift makes a late frame look like the apex


def test_mask_keeps_a_blink_from_winning():
    frames, mask = _clip(blink=True)
    no_mask = np.ones_like(mask)
    assert abs(spot_apex(frames[0], frames[1:], no_mask) + 1 - BLINK) <= 1  # without the mask the blink wins
    assert abs(spot_apex(frames[0], frames[1:], mask) + 1 - APEX) <= 1


def test_motion_curve_rises_and_falls():
    frames, mask = _clip(blink=False)
    curve = motion_curve(frames[0], frames[1:], mask)
    assert curve.shape == (N_FRAMES - 1,)
    rise = curve[FLICKER : APEX - 1]  # after the flicker frame, up to the apex
    assert np.all(np.diff(rise) > 0)
    assert curve[APEX - 1] > 2 * curve[0]


def test_invalid_input_is_refused():
    frames, mask = _clip(blink=False)
    with pytest.raises(ValueError, match="no candidate frame"):
        spot_apex(frames[0], [], mask)
    with pytest.raises(ValueError, match="reference='offset'"):
        ApexConfig(reference="offset")
    with pytest.raises(ValueError, match="smooth=2"):
        ApexConfig(smooth=2)
    with pytest.raises(ValueError, match="keeps no pixel"):
        motion_curve(frames[0], frames[1:], np.zeros_like(mask))
