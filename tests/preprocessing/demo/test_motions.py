"""Synthetic motion fields: amplitude, placement on the right landmarks, direction per class, time profiles."""

from __future__ import annotations

import numpy as np
import pytest

from preprocessing.annotations.sample import LABELS
from preprocessing.demo import REFERENCE_FACE, displacement_field, face_frame
from preprocessing.demo.faces import load_base_face
from preprocessing.demo.motions import (
    ACTION_UNITS,
    CLASS_ACTION_UNITS,
    EMOTIONS,
    blink_field,
    blink_profile,
    expression_profile,
)

SHAPE = (384, 384)


@pytest.fixture(scope="module")
def face() -> np.ndarray:
    """dlib landmarks of a real photo, scaled so that the face is 224 px (the reference scale)."""
    landmarks = load_base_face("grace_hopper").landmarks
    _, _, size = face_frame(landmarks)
    centre = landmarks.mean(axis=0)
    return (landmarks - centre) * (REFERENCE_FACE / size) + np.array(SHAPE[::-1]) / 2


def _near(field: np.ndarray, points: np.ndarray, radius: float = 6.0) -> np.ndarray:
    """Mean (u, v) of the field within ``radius`` px of the mean of ``points``."""
    cx, cy = points.reshape(-1, 2).mean(axis=0)
    ys, xs = np.mgrid[0:field.shape[0], 0:field.shape[1]]
    return field[(xs - cx) ** 2 + (ys - cy) ** 2 <= radius**2].mean(axis=0)


def _magnitude_near(field: np.ndarray, points: np.ndarray, radius: float = 15.0) -> float:
    return float(np.linalg.norm(field, axis=-1)[_disc(field.shape[:2], points, radius)].max(initial=0.0))


def _disc(shape, points, radius):
    ys, xs = np.mgrid[0:shape[0], 0:shape[1]]
    disc = np.zeros(shape, bool)
    for cx, cy in np.atleast_2d(points):
        disc |= (xs - cx) ** 2 + (ys - cy) ** 2 <= radius**2
    return disc


@pytest.mark.parametrize("cls", LABELS)
@pytest.mark.parametrize("amplitude", [0.5, 1.7, 3.0])
def test_peak_displacement_is_the_amplitude(face, cls, amplitude):
    field = displacement_field(face, cls, amplitude, SHAPE)
    assert field.shape == (*SHAPE, 2) and field.dtype == np.float32
    assert np.linalg.norm(field, axis=-1).max() == pytest.approx(amplitude, rel=1e-5)


@pytest.mark.parametrize("cls", LABELS)
def test_field_is_smooth_and_invertible(face, cls):
    field = displacement_field(face, cls, 3.0, SHAPE)
    jacobian = np.stack([np.gradient(field[..., c], axis=a) for c in range(2) for a in range(2)])
    assert np.abs(jacobian).max() < 0.35  # far from folding at the largest demo amplitude


def test_positive_moves_the_mouth_corners_up_and_out_not_the_brows(face):
    field = displacement_field(face, "positive", 2.0, SHAPE)
    left, right = _near(field, face[48]), _near(field, face[54])
    assert left[1] < -0.5 and right[1] < -0.5  # up (image y grows downward)
    assert left[0] < -0.3 and right[0] > 0.3  # out, away from the midline
    assert _magnitude_near(field, face[17:27]) == 0.0  # brows untouched
    assert _magnitude_near(field, face[36:48], radius=3) == 0.0  # eyes untouched


def test_surprise_raises_the_brows_and_leaves_the_mouth(face):
    field = displacement_field(face, "surprise", 2.0, SHAPE)
    for index in (18, 20, 23, 25):
        assert _near(field, face[index])[1] < -0.5
    assert _magnitude_near(field, face[48:68]) == 0.0


def test_negative_lowers_and_draws_the_inner_brows_together_and_drops_the_mouth_corners(face):
    field = displacement_field(face, "negative", 2.0, SHAPE)
    left_brow, right_brow = _near(field, face[21]), _near(field, face[22])
    assert left_brow[1] > 0.3 and right_brow[1] > 0.3  # down
    assert left_brow[0] > 0.3 and right_brow[0] < -0.3  # together
    assert _near(field, face[48])[1] > 0.5 and _near(field, face[54])[1] > 0.5  # corners down
    assert _magnitude_near(field, face[17], radius=4) < 0.5  # outer brow barely moves


def test_asymmetry_weakens_one_side(face):
    field = displacement_field(face, "positive", 2.0, SHAPE, asymmetry=0.5)
    left, right = np.linalg.norm(_near(field, face[48])), np.linalg.norm(_near(field, face[54]))
    assert left == pytest.approx(right / 3, rel=0.1)  # (1 - 0.5) / (1 + 0.5)


def test_demo_amplitudes_at_the_224_px_scale_are_0_5_to_3_px(face):
    # the demo draws amplitude_224 in [0.5, 3] and converts with the face size: the peak then scales with it
    for size in (180.0, 224.0, 260.0):
        scaled = (face - face.mean(axis=0)) * size / REFERENCE_FACE + face.mean(axis=0)
        _, _, measured = face_frame(scaled)
        peak = np.linalg.norm(displacement_field(scaled, "surprise", 3.0 * measured / REFERENCE_FACE, SHAPE),
                              axis=-1).max()
        assert peak * REFERENCE_FACE / measured == pytest.approx(3.0, rel=1e-4)


def test_every_emotion_maps_to_a_class_and_known_action_units():
    assert {label for label, _ in EMOTIONS.values()} == set(LABELS)
    for _, choices in EMOTIONS.values():
        assert all(set(aus) <= set(ACTION_UNITS) for aus in choices)
    assert set(CLASS_ACTION_UNITS) == set(LABELS)


def test_bad_inputs_are_rejected_with_the_valid_values(face):
    with pytest.raises(ValueError, match="expected one of"):
        displacement_field(face, "happiness", 1.0, SHAPE)
    with pytest.raises(ValueError, match=r"\(68, 2\)"):
        displacement_field(face[:60], "positive", 1.0, SHAPE)
    with pytest.raises(ValueError, match="asymmetry"):
        displacement_field(face, "positive", 1.0, SHAPE, asymmetry=2.0)


def test_blink_stays_on_the_eyes(face):
    field = blink_field(face, SHAPE)
    eyes = np.vstack([face[36:42], face[42:48]])
    assert _magnitude_near(field, eyes, radius=3) > 1.0
    assert field[..., 1].max() > 0 and field[..., 1].min() >= 0  # the lid moves down only
    moved = np.linalg.norm(field, axis=-1) > 0
    assert not moved[_disc(SHAPE, np.vstack([face[17:27], face[48:68]]), 3)].any()  # brows and mouth still


def test_expression_profile_rises_to_the_apex_and_falls():
    profile = expression_profile(15, 6)
    assert profile[0] == 0.0 and profile[6] == 1.0 and profile.argmax() == 6
    assert np.all(np.diff(profile[:7]) > 0) and np.all(np.diff(profile[6:]) < 0)
    assert profile[-1] == pytest.approx(0.0, abs=1e-12)
    assert expression_profile(15, 6, release=0.6)[-1] == pytest.approx(0.4)
    with pytest.raises(ValueError, match="onset < apex < offset"):
        expression_profile(10, 9)


def test_blink_profile_is_a_pulse_of_the_given_length():
    closure = blink_profile(12, 3, 4)
    assert np.flatnonzero(closure).tolist() == [3, 4, 5, 6]
    assert closure.max() <= 1.0
