"""process_clip end to end on real frames written to disk (real dlib, real OpenCV TV-L1), and its rejects."""

from __future__ import annotations

import pickle

import cv2
import numpy as np
import pytest

from preprocessing.annotations.sample import Sample
from preprocessing.vision.alignment import AlignConfig
from preprocessing.vision.clip import ClipRejected, PreprocessConfig, SequenceConfig, process_clip, sequence_frames
from preprocessing.vision.flow import FlowConfig, endpoint_error
from tests.preprocessing._faces import aligner, astronaut, expression_field, rotate, to_uint8, warp_exact, write_clip

CONFIG = PreprocessConfig()


def _raw_clip(profile: list[float], amplitude: float = 2.0, seed: int = 0):
    """Raw 512x512 frames of the astronaut tilted 6 degrees, expression scaled by ``profile`` per frame."""
    onset = rotate(astronaut(), 6.0)
    raw_landmarks = aligner().fit(onset).raw_landmarks
    field = expression_field(raw_landmarks, onset.shape, amplitude)  # (H, W, 2) in raw pixels
    rng = np.random.default_rng(seed)
    frames = [to_uint8(warp_exact(onset, p * field) + rng.normal(0, 1.0, onset.shape)) for p in profile]
    return frames, field


def _aligned(raw_flow: np.ndarray, matrix: np.ndarray, size: int) -> np.ndarray:
    """A raw-frame flow seen in aligned coordinates: ``A_lin @ flow(A^-1 q)``."""
    sampled = cv2.warpAffine(raw_flow, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return sampled @ matrix[:, :2].T


def test_clip_with_annotated_apex(tmp_path):
    frames, field = _raw_clip([0.0, 0.5, 1.0, 0.6])
    sample = write_clip(tmp_path / "EP01_01", frames, onset=10, apex=12)
    result = process_clip(sample, CONFIG, aligner())
    assert result.sample_id == "casme2/sub01/EP01_01"
    assert (result.onset, result.apex, result.apex_spotted) == (10, 12, False)
    assert result.features.shape == (224, 224, 4) and result.features.dtype == np.float32
    for image in (result.onset_face, result.apex_face, result.mask):
        assert image.shape == (224, 224) and image.dtype == np.uint8
    assert result.landmarks.shape == (68, 2) and result.landmarks.dtype == np.float32
    assert result.faces_found >= 1  # dlib also reports a weak false detection on the suit here; the face wins
    assert result.angle == pytest.approx(aligner().fit(astronaut()).angle - 6.0, abs=1.0)
    # the known displacement comes back, in aligned coordinates, inside the mask
    matrix = aligner().fit(frames[0]).matrix
    truth = _aligned(field, matrix, 224)
    error = endpoint_error(result.features[..., :2], truth, result.mask)
    assert error < 0.3 < endpoint_error(np.zeros_like(truth), truth, result.mask)


def test_clip_stores_the_aligned_frame_sequence(tmp_path):
    frames, _ = _raw_clip([0.0, 0.3, 0.6, 1.0, 0.7, 0.4])
    sample = write_clip(tmp_path / "EP01_02", frames, onset=20, apex=23)
    config = PreprocessConfig(sequence=SequenceConfig(frames=4, size=32))
    result = process_clip(sample, config, aligner())
    assert result.sequence.shape == (4, 32, 32) and result.sequence.dtype == np.uint8
    # aligned with the onset's transform like the apex face, then resized: frame 0 is the onset, 3 the offset
    np.testing.assert_array_equal(result.sequence[0], cv2.resize(result.onset_face, (32, 32),
                                                                 interpolation=cv2.INTER_AREA))
    offset = aligner().apply(aligner().fit(frames[0]), frames[-1])
    np.testing.assert_array_equal(result.sequence[3], cv2.resize(offset, (32, 32), interpolation=cv2.INTER_AREA))
    assert process_clip(sample, PreprocessConfig(sequence=SequenceConfig(frames=0)), aligner()).sequence is None


def test_sequence_frames_are_sampled_uniformly_over_onset_to_offset():
    clip = Sample("casme2", "casme2/sub01", "EP01", "happiness", 10, 14, 19, tuple(f"/x/img{n}.jpg" for n in
                  range(8, 22)), tuple(range(8, 22)), "", 1)
    assert sequence_frames(clip, 4) == [10, 13, 16, 19]  # onset and offset included, frames outside left out
    short = Sample("casme2", "casme2/sub01", "EP02", "happiness", 5, 6, 6, ("/x/img5.jpg", "/x/img6.jpg"), (5, 6),
                   "", 1)
    assert sequence_frames(short, 4) == [5, 5, 6, 6]  # fewer frames than asked: nearest frames repeat


def test_missing_apex_is_spotted(tmp_path):
    profile = [0.0, 0.2, 0.45, 0.7, 0.9, 1.0, 0.8, 0.5, 0.3, 0.2]  # true apex: frame index 5
    frames, _ = _raw_clip(profile, amplitude=1.2, seed=1)
    sample = write_clip(tmp_path / "s01_po_01", frames, onset=100, apex=None)
    result = process_clip(sample, CONFIG, aligner())
    assert result.apex_spotted
    assert abs(result.apex - 105) <= 1


def test_corrupt_frame_is_a_read_reject_naming_the_file(tmp_path):
    frames, _ = _raw_clip([0.0, 1.0])
    sample = write_clip(tmp_path / "EP01_02", frames, onset=1, apex=2, ext=".jpg")
    bad = sample.frame_path(2)
    bad.write_bytes(b"\x00garbage, not a JPEG" * 20)
    with pytest.raises(ClipRejected) as info:
        process_clip(sample, CONFIG, aligner())
    assert (info.value.stage, info.value.reason, info.value.path) == ("read", "unreadable or corrupt frame", str(bad))
    assert info.value.exclusion(sample).stage == "read"
    copy = pickle.loads(pickle.dumps(info.value))  # crosses Ray process boundaries intact
    assert (copy.stage, copy.reason, copy.path) == ("read", "unreadable or corrupt frame", str(bad))


def test_missing_frame_is_a_read_reject(tmp_path):
    frames, _ = _raw_clip([0.0, 1.0])
    sample = write_clip(tmp_path / "EP01_03", frames, onset=1, apex=None)
    sample = type(sample)(**{**sample.__dict__, "apex": 7})  # annotated apex not on disk
    with pytest.raises(ClipRejected, match="frame 7 is missing") as info:
        process_clip(sample, CONFIG, aligner())
    assert info.value.stage == "read"


def test_no_face_is_a_detect_reject(tmp_path):
    grey = np.full((480, 640), 128, np.uint8)
    sample = write_clip(tmp_path / "EP01_04", [grey, grey], onset=1, apex=2)
    with pytest.raises(ClipRejected, match="no face found") as info:
        process_clip(sample, CONFIG, aligner())
    assert info.value.stage == "detect" and info.value.path == str(sample.frame_path(1))


def test_landmarks_off_the_image_are_a_landmarks_reject(tmp_path):
    image = astronaut()
    chin_y = int(aligner().fit(image).raw_landmarks[8, 1])
    cut = np.ascontiguousarray(image[: chin_y - 20])
    sample = write_clip(tmp_path / "EP01_05", [cut, cut], onset=1, apex=2)
    with pytest.raises(ClipRejected, match="fall off") as info:
        process_clip(sample, CONFIG, aligner())
    assert info.value.stage == "landmarks"


def test_two_faces_take_the_largest_and_warn(tmp_path):
    big = astronaut()[40:330, 100:380]
    small = cv2.resize(big, None, fx=0.7, fy=0.7)
    canvas = np.full((330, 600), 120, np.uint8)
    canvas[20:310, 10:290] = big
    canvas[60 : 60 + small.shape[0], 380 : 380 + small.shape[1]] = small
    sample = write_clip(tmp_path / "EP01_06", [canvas, canvas], onset=1, apex=2)
    result = process_clip(sample, CONFIG, aligner())
    assert result.faces_found == 2
    assert result.warnings == ["2 faces found, took the largest"]


def test_apex_equal_to_onset_is_an_apex_reject(tmp_path):
    frames, _ = _raw_clip([0.0, 1.0])
    sample = write_clip(tmp_path / "EP01_07", frames, onset=1, apex=1)
    with pytest.raises(ClipRejected, match="apex equals the onset") as info:
        process_clip(sample, CONFIG, aligner())
    assert info.value.stage == "apex"


def test_non_finite_flow_is_a_flow_reject(tmp_path):
    frames, _ = _raw_clip([0.0, 1.0])
    sample = write_clip(tmp_path / "EP01_08", frames, onset=1, apex=2)
    diverging = PreprocessConfig(flow=FlowConfig(tau=3e38))  # real TV-L1 returns NaN with this time step
    with pytest.raises(ClipRejected, match="NaN/inf") as info:
        process_clip(sample, diverging, aligner())
    assert info.value.stage == "flow"


def test_aligner_must_match_the_config(tmp_path):
    frames, _ = _raw_clip([0.0, 1.0])
    sample = write_clip(tmp_path / "EP01_09", frames, onset=1, apex=2)
    with pytest.raises(ValueError, match="FaceAligner"):
        process_clip(sample, PreprocessConfig(align=AlignConfig(size=112)), aligner())


def test_config_round_trip_and_hash():
    config = PreprocessConfig()
    assert PreprocessConfig.from_dict(config.to_dict()) == config
    assert PreprocessConfig.from_dict({}) == config  # missing sections take the defaults
    assert config.config_hash() == PreprocessConfig().config_hash()
    changed = PreprocessConfig.from_dict({"flow": {"nscales": 2}})
    assert len(config.config_hash()) == 16 and changed.config_hash() != config.config_hash()
    with pytest.raises(ValueError, match="unknown sections"):
        PreprocessConfig.from_dict({"optical_flow": {}})
    with pytest.raises(ValueError, match="PreprocessConfig.flow: unknown keys"):
        PreprocessConfig.from_dict({"flow": {"lambda": 0.1}})


def test_sequences_change_the_config_hash_and_none_keeps_the_old_one():
    """Storing sequences is a new feature set (new hash, new folder); frames=0 stores what older folders hold."""
    import hashlib
    import json

    off = PreprocessConfig(sequence=SequenceConfig(frames=0))
    without = {k: v for k, v in PreprocessConfig().to_dict().items() if k != "sequence"}
    old_hash = hashlib.sha256(json.dumps(without, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:16]
    assert off.config_hash() == old_hash != PreprocessConfig().config_hash()
    assert PreprocessConfig(sequence=SequenceConfig(frames=6)).config_hash() != PreprocessConfig().config_hash()
    assert PreprocessConfig.from_dict(off.to_dict()) == off
    with pytest.raises(ValueError, match="SequenceConfig.frames=2: expected 0"):
        PreprocessConfig.from_dict({"sequence": {"frames": 2}})
