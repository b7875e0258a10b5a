"""Rendering a clip: the skin folds a compressing expression raises (``wrinkle_depth``), photometric only, and
absent at the default, so earlier demos are unchanged; the realistic preset draws them since its version 2."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from preprocessing.demo import PRESETS, generate_demo, make_config
from preprocessing.demo.config import REALISTIC_VERSION, manifest
from preprocessing.demo.render import WRINKLE_STRAIN, WRINKLES_PER_FACE, wrinkle_shading

SIZE = {"n_subjects": 2, "clips_per_subject": 2, "min_frames": 10, "max_frames": 12}


def field(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    return np.stack([u, v], axis=-1).astype(np.float32)


def test_folds_follow_compression_not_motion():
    ys, xs = np.mgrid[0:64, 0:64].astype(np.float64)
    still = wrinkle_shading(field(np.full((64, 64), 2.0), np.zeros((64, 64))), np.zeros(2), 200.0, 0.3)
    assert not still.any()  # a translation compresses nothing
    stretched = wrinkle_shading(field(0.05 * (xs - 32), np.zeros((64, 64))), np.zeros(2), 200.0, 0.3)
    assert not stretched.any()  # stretched skin stays smooth
    # pushed toward +x everywhere, less and less along x: compression 0.05 (a face of 224 px: folds 8 px apart)
    squeezed = wrinkle_shading(field(3.5 - 0.05 * xs, np.zeros((64, 64))), np.zeros(2), 224.0, 0.3)
    # compression 0.05 = half of WRINKLE_STRAIN: folds half as deep as the full depth, as stripes across the push
    assert squeezed.max() == pytest.approx(0.3 * 0.05 / WRINKLE_STRAIN, rel=1e-3)
    assert np.allclose(squeezed, squeezed[:1])  # a push along x: stripes constant along y
    spectrum = np.abs(np.fft.rfft(squeezed[10] - squeezed[10].mean()))
    assert np.argmax(spectrum) == 64 * WRINKLES_PER_FACE // 224  # face_size / 28 apart: 8 folds in 64 px


@pytest.fixture(scope="module")
def demos(tmp_path_factory):
    root = tmp_path_factory.mktemp("wrinkles")
    plain = generate_demo(root / "plain", seed=0, preset="realistic", wrinkle_depth=0.0, **SIZE)
    folded = generate_demo(root / "folded", seed=0, preset="realistic", wrinkle_depth=0.3, **SIZE)
    return plain, folded


def test_folds_darken_the_moving_frames_only(demos):
    plain, folded = demos
    truth = json.loads((folded / "ground_truth.json").read_text())
    assert all(c["wrinkle_depth"] == 0.3 for c in truth["clips"])
    assert all("wrinkle_depth" not in c for c in json.loads((plain / "ground_truth.json").read_text())["clips"])
    assert json.loads((folded / "demo.json").read_text())["params"]["wrinkle_depth"] == 0.3
    assert "wrinkle_depth" not in json.loads((plain / "demo.json").read_text())["params"]
    darker = 0
    for clip in truth["clips"]:
        folder = next(plain.rglob(clip["clip"]))
        first = clip["onset"]
        for n in (first, clip["apex"]):
            a = cv2.imread(str(folder / f"img{n}.jpg")).astype(int)
            b = cv2.imread(str(next(folded.rglob(clip["clip"])) / f"img{n}.jpg")).astype(int)
            if n == first:  # the expression is at rest in the onset frame: no folds
                np.testing.assert_array_equal(a, b)
            else:
                darker += int((b - a).sum() < 0)
    assert darker == len(truth["clips"])  # every apex frame is darker where the folds are


def test_the_realistic_preset_has_skin_folds_and_hard_has_none():
    """Version 2 of the realistic preset draws skin folds (its version 1 is ``wrinkle_depth=0``); hard stays as it
    was (its manifest fingerprint is tested in test_realistic.py)."""
    assert make_config("realistic").wrinkle_depth == PRESETS["realistic"]["wrinkle_depth"] > 0
    assert manifest(0, make_config("realistic"))["params"]["wrinkle_depth"] == PRESETS["realistic"]["wrinkle_depth"]
    assert manifest(0, make_config("realistic"))["preset_version"] == REALISTIC_VERSION >= 2
    assert make_config("hard").wrinkle_depth == 0 and "wrinkle_depth" not in manifest(0, make_config("hard"))["params"]


def test_wrinkle_depth_is_checked_and_belongs_to_the_hard_family():
    with pytest.raises(ValueError, match="wrinkle_depth=1.5: expected a darkening depth in 0..1"):
        make_config("realistic", wrinkle_depth=1.5)
    with pytest.raises(ValueError, match="only the hard preset uses them"):
        make_config("easy", wrinkle_depth=0.2)
