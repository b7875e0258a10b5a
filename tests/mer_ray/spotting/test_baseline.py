"""The MEGC baseline spotter: finds a planted strong motion, ignores a flat video; frames -> scores end to end."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from mer_ray.spotting.baseline import SpotterConfig, find_peaks, relative_threshold, smooth, spot, spot_both
from mer_ray.spotting.intervals import Interval, evaluate_spotting


def _noise(n, seed=0, level=0.05):
    return np.abs(np.random.default_rng(seed).normal(level, 0.01, n))


def _bump(n, centre, width, height):
    t = np.arange(n)
    return height * np.exp(-0.5 * ((t - centre) / width) ** 2)


def test_planted_micro_motion_is_spotted():
    n = 300
    scores = _noise(n) + _bump(n, 150, 2.0, 1.0)
    config = SpotterConfig.micro_for(30, p=0.5)
    found = spot(scores, config, first_frame=1)
    assert len(found) == 1
    truth = Interval(146, 157, "micro")
    assert evaluate_spotting({"v": found}, {"v": [truth]}).micro.tp == 1
    assert found[0].kind == "micro" and found[0].onset <= 151 <= found[0].offset


def test_flat_video_gives_nothing_with_an_absolute_floor_and_few_spots_without():
    flat = np.full(300, 0.05)
    assert spot(flat, SpotterConfig.micro_for(30, p=0.3)) == []  # no local maximum in a constant signal
    noisy = _noise(300, seed=1)
    assert spot(noisy, SpotterConfig.micro_for(30, p=0.3, min_score=0.5)) == []
    # a relative threshold alone always finds the largest wiggle of a noisy video: a known weakness
    assert len(spot(noisy, SpotterConfig.micro_for(30, p=0.9))) <= 3


def test_long_runs_are_not_micro_expressions():
    n = 300
    scores = _noise(n) + _bump(n, 150, 30.0, 1.0)  # a 2-s movement
    assert spot(scores, SpotterConfig.micro_for(30, p=0.5)) == [] or all(
        i.length <= SpotterConfig.micro_for(30).max_length for i in spot(scores, SpotterConfig.micro_for(30, p=0.5)))
    macros = spot(scores, SpotterConfig.macro_for(30, p=0.5))
    assert len(macros) == 1 and macros[0].kind == "macro"


def test_micro_inside_a_macro_is_dropped():
    n = 400
    micro_scores = _noise(n) + _bump(n, 200, 2.0, 1.0) + _bump(n, 330, 2.0, 1.0)
    macro_scores = _noise(n) + _bump(n, 200, 12.0, 1.0)
    found = spot_both(micro_scores, macro_scores, SpotterConfig.micro_for(30, p=0.5),
                      SpotterConfig.macro_for(30, p=0.5))
    assert [i.kind for i in found] == ["macro", "micro"]
    assert found[1].onset > 300


def test_helpers():
    assert smooth(np.array([0.0, 3.0, 0.0]), 3).tolist() == [1.5, 1.0, 1.5]
    assert relative_threshold(np.array([0.0, 0.0, 1.0, 0.0, 0.0]), 0.5) == pytest.approx(0.2 + 0.5 * 0.8)
    assert find_peaks(np.array([0, 2, 0, 3, 0, 1, 0.0]), 1.0, 2) == [1, 3, 5]
    assert find_peaks(np.array([0, 2, 0, 3, 0, 1, 0.0]), 1.0, 3) == [3]
    with pytest.raises(ValueError, match="fraction"):
        SpotterConfig(p=1.5)


@pytest.fixture(scope="module")
def face():
    """A demo subject's neutral face (a real photo, dlib-checked) and its landmarks, at 256 px."""
    import dataclasses

    from preprocessing.demo.faces import IdentityConfig, load_base_face, make_subject

    identity = dataclasses.replace(IdentityConfig(), face_size=(130.0, 140.0))
    return make_subject("s1", load_base_face("astronaut"), (256, 256), np.random.default_rng(3), identity)


def _write_video(folder, face, field=None, span=(0, 0)):
    from preprocessing.demo.motions import expression_profile
    from preprocessing.demo.warp import warp_image

    folder.mkdir(parents=True)
    n = 60
    noise = np.random.default_rng(0)
    profile = np.zeros(n)
    if field is not None:
        profile[span[0]:span[1]] = expression_profile(span[1] - span[0], (span[1] - span[0]) // 2)
    for i in range(n):
        image = face.image if profile[i] == 0 else warp_image(face.image, field * np.float32(profile[i]))
        image = np.clip(image + noise.normal(0, 1.0, image.shape), 0, 255).astype(np.uint8)
        cv2.imwrite(str(folder / f"img{i + 1}.jpg"), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    return folder


def test_frames_to_spots_end_to_end(tmp_path, face):
    from mer_ray.spotting.scores import ScoreConfig, video_scores
    from preprocessing.demo.motions import action_unit_field

    field = action_unit_field(face.landmarks, (12,), 4.0, face.image.shape[:2])
    moving = _write_video(tmp_path / "moving", face, field, (25, 37))
    still = _write_video(tmp_path / "still", face)
    (moving / "img50.jpg").write_bytes(b"not a jpeg")  # a damaged frame: noted, a neighbour stands in
    config = ScoreConfig(ks=(6,), chunk=25)  # several chunks: the face is re-fitted on each
    m, s = video_scores(moving, config), video_scores(still, config)
    assert len(m.notes) == 1 and "img50.jpg: unreadable" in m.notes[0]
    scores_m, scores_s = m.scores(6, 4), s.scores(6, 4)
    assert np.nanargmax(scores_m) + 1 in range(26, 38)
    assert np.nanmax(scores_m) > 5 * np.nanmax(scores_s)
    floor = 3 * float(np.nanmax(scores_s))  # an absolute floor set on still footage
    spotter = SpotterConfig.micro_for(30, p=0.5, min_score=floor)
    found = spot(scores_m, spotter)
    assert evaluate_spotting({"v": found}, {"v": [Interval(26, 37, "micro")]}).micro.tp == 1
    assert spot(scores_s, spotter) == []
