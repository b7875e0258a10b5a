"""Face alignment with the real dlib detector and 68-point predictor."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import skimage.data

from preprocessing.vision.alignment import (
    AlignConfig,
    AlignmentError,
    FaceAligner,
    eye_line_angle,
    model_path,
    transform_points,
)
from preprocessing.vision.flow import tvl1_flow
from preprocessing.vision.masks import build_mask
from tests.preprocessing._faces import aligner, astronaut, grace_hopper, rotate


def test_model_file_is_found_without_importing_the_package():
    assert model_path("shape_predictor_68_face_landmarks.dat").stat().st_size > 50_000_000


@pytest.mark.parametrize("degrees", [8.0, -8.0])
def test_rotated_face_comes_out_with_a_horizontal_eye_line(degrees):
    raw = rotate(astronaut(), degrees)
    alignment = aligner().fit(raw)
    face = aligner().apply(alignment, raw)
    assert face.shape == (224, 224) and face.dtype == np.uint8
    assert abs(alignment.angle) > 4  # the input really was tilted
    assert abs(eye_line_angle(alignment.landmarks)) < 1e-3  # the transform levels the fitted landmarks ...
    redetected = aligner().fit(face)  # ... and landmarks found afresh on the output agree
    assert abs(redetected.angle) < 1.0
    assert redetected.faces_found == 1


def test_eye_line_angle_follows_the_photo_rotation():
    """Paper Eq. 1: rotating the photo by +8 degrees (counter-clockwise) lowers the measured angle by 8."""
    upright = aligner().fit(astronaut()).angle
    tilted = aligner().fit(rotate(astronaut(), 8.0)).angle
    assert tilted - upright == pytest.approx(-8.0, abs=1.0)


def test_matrix_maps_raw_landmarks_into_the_square():
    alignment = aligner().fit(grace_hopper())
    np.testing.assert_allclose(
        transform_points(alignment.matrix, alignment.raw_landmarks), alignment.landmarks, atol=1e-3
    )
    assert alignment.landmarks.min() >= 0 and alignment.landmarks.max() <= 224
    eyes_mid_x = (alignment.landmarks[36:42, 0].mean() + alignment.landmarks[42:48, 0].mean()) / 2
    assert eyes_mid_x == pytest.approx(112, abs=1)  # centred on the face's symmetry axis


def test_same_transform_is_applied_to_every_frame():
    onset = rotate(astronaut(), 5.0)
    alignment = aligner().fit(onset)
    onset_face = aligner().apply(alignment, onset)
    # a frame identical to the onset gives zero flow
    assert np.abs(tvl1_flow(onset_face, aligner().apply(alignment, onset.copy()))).max() < 1e-3
    # a frame where the head moved keeps that motion in aligned coordinates: it is not re-aligned away
    moved_face = aligner().apply(alignment, np.roll(onset, 2, axis=1))  # head 2 raw pixels to the right
    mask = build_mask(alignment.landmarks, 224).astype(bool)
    measured = np.median(tvl1_flow(onset_face, moved_face)[mask], axis=0)  # (2,)
    expected = 2 * alignment.matrix[:, 0]  # a raw +x shift seen through the clip's linear map
    assert np.hypot(*(measured - expected)) < 0.2


@pytest.mark.parametrize("image", ["grey", "bricks"])
def test_no_face_is_a_detect_error(image):
    frame = np.full((480, 640), 128, np.uint8) if image == "grey" else skimage.data.brick()
    with pytest.raises(AlignmentError, match="no face found") as info:
        aligner().fit(frame)
    assert info.value.stage == "detect"


def test_two_faces_take_the_largest_and_say_so():
    big = astronaut()[40:330, 100:380]  # (290, 280)
    small = cv2.resize(big, None, fx=0.7, fy=0.7)
    canvas = np.full((330, 600), 120, np.uint8)
    canvas[20:310, 10:290] = big
    canvas[60 : 60 + small.shape[0], 380 : 380 + small.shape[1]] = small
    alignment = aligner().fit(canvas)
    assert alignment.faces_found == 2
    assert alignment.face_box[2] < 300  # the box of the large face on the left
    assert alignment.warnings == ["2 faces found, took the largest"]


def test_landmarks_off_the_image_are_a_landmarks_error():
    image = astronaut()
    chin_y = int(aligner().fit(image).raw_landmarks[8, 1])
    with pytest.raises(AlignmentError, match="fall off") as info:
        aligner().fit(np.ascontiguousarray(image[: chin_y - 20]))  # chin cut off, face still detected
    assert info.value.stage == "landmarks"


def test_config_validation_names_the_field():
    with pytest.raises(ValueError, match="detector='mtcnn'"):
        AlignConfig(detector="mtcnn")
    with pytest.raises(ValueError, match="margin=2"):
        AlignConfig(margin=2)


def test_size_and_margin_are_honoured():
    tight = FaceAligner(AlignConfig(size=112, margin=0.0))
    alignment = tight.fit(astronaut())
    assert tight.apply(alignment, astronaut()).shape == (112, 112)
    extent = alignment.landmarks.max(axis=0) - alignment.landmarks.min(axis=0)
    default = aligner().fit(astronaut())  # margin 0.15 at 224
    default_extent = default.landmarks.max(axis=0) - default.landmarks.min(axis=0)
    # margin m shrinks the face by 1 + 2m inside the square; size 112 halves it
    np.testing.assert_allclose(extent / (default_extent / 2), 1 + 2 * 0.15, rtol=0.02)
