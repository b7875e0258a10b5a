"""The hand-crafted descriptors (HOOF, MDMO, LBP-TOP): known inputs give the documented outputs."""

import numpy as np
import pandas as pd
import pytest
from skimage.feature import local_binary_pattern

from mer_ray.data.features import FeatureSet
from mer_ray.methods import linear
from mer_ray.methods.hoof import HoofConfig, hoof
from mer_ray.methods.lbptop import LbpTopConfig, lbp_top
from mer_ray.methods.mdmo import MIRROR, N_ROIS, MdmoConfig, mdmo, roi_boxes
from tests.mer_ray._synthetic import FACE_68, synthetic_features


def _features(flow: np.ndarray, *, mask=None, landmarks=None, sequence=None) -> FeatureSet:
    n, size = len(flow), flow.shape[-1]
    meta = pd.DataFrame({"sample_id": [f"d/s{i}/c" for i in range(n)], "dataset": "d",
                         "subject": [f"d/s{i}" for i in range(n)], "label": np.arange(n) % 3})
    return FeatureSet(meta=meta, flow=flow.astype(np.float32), apex_face=np.zeros((n, size, size), np.uint8),
                      mask=np.ones((n, size, size), np.uint8) if mask is None else mask, landmarks=landmarks,
                      sequence=sequence)


def _uniform_flow(u: float, v: float, n: int = 1, size: int = 32) -> np.ndarray:
    flow = np.zeros((n, 4, size, size), np.float32)
    flow[:, 0], flow[:, 1] = u, v
    return flow


# ---- HOOF -------------------------------------------------------------------------------------------------------


def test_hoof_of_a_pure_rightward_flow_fills_exactly_one_bin():
    config = HoofConfig(grid=4, bins=8)
    x = hoof(config, _features(_uniform_flow(1.5, 0.0)), np.array([0])).reshape(16, 8)  # (blocks, bins)
    assert np.count_nonzero(x.sum(axis=0)) == 1 and np.all(x[:, 0] == 1.0)  # bin 0, every block, normalised


@pytest.mark.parametrize(("u", "v", "expected"), [(0, 1, 2), (-1, 0, 4), (0, -1, 6), (1, 1, 1), (-0.3, -0.3, 5)])
def test_hoof_bins_are_centred_on_the_directions_in_image_coordinates(u, v, expected):
    x = hoof(HoofConfig(grid=1, bins=8), _features(_uniform_flow(u, v)), np.array([0]))
    assert np.flatnonzero(x[0]).tolist() == [expected]


def test_hoof_votes_with_the_magnitude_and_each_block_is_normalised():
    flow = np.zeros((1, 4, 8, 8), np.float32)
    flow[0, 0, :, :4] = 1.0  # left half of the single block: rightward, magnitude 1
    flow[0, 1, :, 4:] = 3.0  # right half: downward, magnitude 3
    x = hoof(HoofConfig(grid=1, bins=4), _features(flow), np.array([0]))[0]
    np.testing.assert_allclose(x, [0.25, 0.75, 0.0, 0.0])


def test_hoof_ignores_masked_pixels_and_leaves_a_still_block_zero():
    flow = _uniform_flow(1.0, 0.0, size=8)
    flow[0, 1, :, 4:] = -5.0  # strong up-right motion in the right half ...
    mask = np.ones((1, 8, 8), np.uint8)
    mask[0, :, 4:] = 0  # ... masked out
    x = hoof(HoofConfig(grid=2, bins=8), _features(flow, mask=mask), np.array([0])).reshape(4, 8)
    assert np.all(x[[0, 2], 0] == 1.0)  # left blocks: only the rightward vote
    assert np.all(x[[1, 3]] == 0.0)  # right blocks: masked, nothing moves
    unmasked = hoof(HoofConfig(grid=2, bins=8, apply_mask=False), _features(flow, mask=mask), np.array([0]))
    assert unmasked.reshape(4, 8)[1].sum() == pytest.approx(1.0)


# ---- MDMO -------------------------------------------------------------------------------------------------------


def _face_landmarks(size: int) -> np.ndarray:
    return (FACE_68 * size / 224)[None].astype(np.float32)


def test_mdmo_of_a_uniform_flow_is_the_flow_in_every_roi():
    size = 112
    data = _features(_uniform_flow(0.0, 2.0, size=size), landmarks=_face_landmarks(size))
    x = mdmo(MdmoConfig(), data, np.array([0])).reshape(N_ROIS, 2)  # (ROI, [rho, theta])
    np.testing.assert_allclose(x[:, 0], 1.0)  # normalised by the largest ROI magnitude
    np.testing.assert_allclose(x[:, 1], np.pi / 2, rtol=1e-6)  # downward in image coordinates


def test_mdmo_takes_the_direction_most_vectors_share_not_the_strongest():
    size = 112
    flow = _uniform_flow(0.0, -1.0, size=size)  # upward, magnitude 1 ...
    flow[0, 0, :, ::4], flow[0, 1, :, ::4] = 6.0, 0.0  # ... with a quarter of the columns rightward, magnitude 6
    x = mdmo(MdmoConfig(), _features(flow, landmarks=_face_landmarks(size)), np.array([0])).reshape(N_ROIS, 2)
    np.testing.assert_allclose(x[:, 1], -np.pi / 2, rtol=1e-6)  # the main (most voted) direction: up
    np.testing.assert_allclose(x[:, 0], 1.0)  # the mean of the up vectors only


def test_mdmo_rois_lie_on_the_face_and_mirror_pairwise():
    landmarks = _face_landmarks(224)
    centres, half = roi_boxes(landmarks, 0.25)
    assert centres.shape == (1, N_ROIS, 2) and 8 <= half[0] <= 12
    assert np.all((centres > 0) & (centres < 224))
    mirrored = landmarks[:, MIRROR].copy()
    mirrored[..., 0] = 223 - mirrored[..., 0]
    flipped, _ = roi_boxes(mirrored, 0.25)
    swap = np.arange(N_ROIS).reshape(-1, 2)[:, ::-1].ravel()  # ROI 2k <-> 2k + 1
    np.testing.assert_allclose(223 - flipped[0, swap, 0], centres[0, :, 0], atol=1e-3)
    np.testing.assert_allclose(flipped[0, swap, 1], centres[0, :, 1], atol=1e-3)


def test_mdmo_of_a_mirrored_clip_is_the_mirrored_feature(rng):
    size = 96
    flow = rng.normal(0, 1, (1, 4, size, size)).astype(np.float32)
    flow[:, 0] += 1.0  # a dominant direction: no ties between the most voted bins
    landmarks = _face_landmarks(size) + rng.uniform(0.1, 0.4, (1, 68, 2)).astype(np.float32)  # off the .5 ties
    mirrored_flow = flow[..., ::-1].copy()
    mirrored_flow[:, 0] *= -1  # a mirrored flow field negates u
    mirrored_landmarks = landmarks[:, MIRROR].copy()
    mirrored_landmarks[..., 0] = size - 1 - mirrored_landmarks[..., 0]
    x = mdmo(MdmoConfig(), _features(flow, landmarks=landmarks), np.array([0])).reshape(N_ROIS, 2)
    y = mdmo(MdmoConfig(), _features(mirrored_flow, landmarks=mirrored_landmarks), np.array([0])).reshape(N_ROIS, 2)
    swap = np.arange(N_ROIS).reshape(-1, 2)[:, ::-1].ravel()
    np.testing.assert_allclose(y[swap, 0], x[:, 0], rtol=1e-5)
    np.testing.assert_allclose(np.cos(y[swap, 1]), -np.cos(x[:, 1]), atol=1e-5)  # theta -> pi - theta
    np.testing.assert_allclose(np.sin(y[swap, 1]), np.sin(x[:, 1]), atol=1e-5)


# ---- LBP-TOP ----------------------------------------------------------------------------------------------------


def test_lbptop_of_a_constant_sequence_is_a_single_pattern():
    sequence = np.full((1, 6, 20, 20), 117, np.uint8)
    config = LbpTopConfig(grid=3)
    x = lbp_top(config, _features(_uniform_flow(0, 0, size=8), sequence=sequence), np.array([0]))
    hist = x.reshape(9, 3, config.patterns)  # (block, plane, pattern)
    assert config.patterns == 59
    assert np.count_nonzero(hist.sum(axis=(0, 1))) == 1  # one pattern, on every plane of every block
    np.testing.assert_allclose(hist.max(axis=2), 1.0)


def test_lbptop_matches_a_slice_by_slice_reference(rng):
    """The stacked one-call computation equals skimage run plane by plane on each slice, counted on inner voxels."""
    frames, side, grid = 5, 12, 2
    sequence = rng.integers(0, 256, (2, frames, side, side), dtype=np.uint8)
    config = LbpTopConfig(grid=grid)
    x = lbp_top(config, _features(_uniform_flow(0, 0, n=2, size=8), sequence=sequence), np.array([0, 1]))

    def codes(image):
        return local_binary_pattern(image, 8, 1, method="nri_uniform").astype(int)

    inner = np.arange(1, side - 1)
    block = (np.arange(side - 2) * grid) // (side - 2)
    for n in range(2):
        volume = sequence[n]
        expected = np.zeros((grid * grid, 3, 59))
        for t in range(1, frames - 1):
            xy = codes(volume[t])
            for y in inner:
                xt = codes(volume[:, y, :])  # (T, x)
                for xx in inner:
                    yt = codes(volume[:, :, xx])  # (T, y)
                    b = block[y - 1] * grid + block[xx - 1]
                    expected[b, 0, xy[y, xx]] += 1
                    expected[b, 1, xt[t, xx]] += 1
                    expected[b, 2, yt[t, y]] += 1
        expected /= expected.sum(axis=2, keepdims=True)
        np.testing.assert_allclose(x[n].reshape(grid * grid, 3, 59), expected, rtol=1e-6)


def test_lbptop_refuses_sequences_too_short_for_its_radius():
    data = _features(_uniform_flow(0, 0, size=8), sequence=np.zeros((1, 2, 16, 16), np.uint8))
    with pytest.raises(ValueError, match="at least 3 frames"):
        lbp_top(LbpTopConfig(), data, np.array([0]))


def _texture(rng, side: int = 40) -> np.ndarray:
    """A smooth random texture (uint8): blurred noise, so that sub-block shifts keep its local structure."""
    from scipy.ndimage import gaussian_filter

    image = gaussian_filter(rng.standard_normal((side, side)), 1.5)
    return np.clip(128 + 400 * image, 0, 255).astype(np.uint8)


def _moving(texture: np.ndarray, frames: int, dy: int, dx: int) -> np.ndarray:
    """(1, T, s, s): the texture shifted by (dy, dx) pixels per frame (wrapping round)."""
    return np.stack([np.roll(texture, (t * dy, t * dx), axis=(0, 1)) for t in range(frames)])[None]


def _planes(sequence: np.ndarray, config: LbpTopConfig) -> np.ndarray:
    """(grid^2, 3, patterns) histograms of one clip."""
    x = lbp_top(config, _features(_uniform_flow(0, 0, size=8), sequence=sequence), np.array([0]))
    return x.reshape(config.grid**2, 3, config.patterns)


def test_lbptop_of_moving_texture_differs_from_static_on_the_time_planes_only(rng):
    """Known answer: a static volume's XT / YT slices are constant over time; a texture translated 1 px per frame
    shears them. The XY histograms (the same texture, shifted) hardly change, the XT / YT ones change a lot."""
    config = LbpTopConfig(grid=1)
    texture = _texture(rng)
    static = _planes(_moving(texture, 7, 0, 0), config)[0]
    right = _planes(_moving(texture, 7, 0, 1), config)[0]
    l1 = np.abs(right - static).sum(axis=1)  # per plane, in 0..2
    assert l1[0] < 0.1  # XY: the same texture
    assert l1[1] > 0.8 and l1[2] > 0.8  # XT, YT: static slices are constant in t, moving ones are not
    # a static volume's time planes: the neighbours at t +- 1 equal the centre (>= sets their bits)
    xt_static_patterns = np.count_nonzero(static[1])
    assert xt_static_patterns < np.count_nonzero(right[1])


def test_lbptop_separates_two_motions_and_swaps_planes_with_the_axes(rng):
    """Rightward vs leftward motion of one texture give different XT histograms; transposing x and y (rightward
    -> downward motion of the transposed texture) turns the XT histogram into the YT one, exactly."""
    config = LbpTopConfig(grid=1)
    texture = _texture(rng)
    right = _planes(_moving(texture, 7, 0, 1), config)[0]
    left = _planes(_moving(texture, 7, 0, -1), config)[0]
    assert np.abs(right[1] - left[1]).sum() > 0.5  # the shear's direction: nri_uniform is not rotation invariant
    down = _planes(_moving(texture.T.copy(), 7, 1, 0), config)[0]
    np.testing.assert_allclose(down[1], right[2], atol=1e-6)  # XT of the transposed volume = YT of the original
    np.testing.assert_allclose(down[2], right[1], atol=1e-6)


def test_lbptop_sees_a_moving_patch_only_in_its_own_blocks(rng):
    """A textured patch that moves on a still textured background changes the time-plane histograms of the
    blocks it covers and leaves the other blocks as they are."""
    config = LbpTopConfig(grid=2)
    background = _texture(rng, 42)
    patch = _texture(rng, 12)

    def volume(step: int) -> np.ndarray:
        frames = []
        for t in range(7):
            frame = background.copy()
            frame[4:16, 4 + step * t : 16 + step * t] = patch  # top-left block, moving right
            frames.append(frame)
        return np.stack(frames)[None]

    still, moving = _planes(volume(0), config), _planes(volume(1), config)
    l1 = np.abs(moving - still).sum(axis=2)  # (block, plane)
    assert l1[0, 1] > 0.3 and l1[0, 2] > 0.3  # the patch's block: XT / YT change
    np.testing.assert_allclose(l1[3], 0.0, atol=1e-6)  # the far block (bottom right) is untouched


# ---- shared -----------------------------------------------------------------------------------------------------

CONFIGS = [HoofConfig(grid=4), MdmoConfig(), LbpTopConfig(grid=3)]


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: c.method)
def test_a_descriptor_is_clip_local_and_ignores_labels(config):
    """Each clip's row depends on that clip alone: the per-process cache of all clips is the per-fold computation."""
    data = synthetic_features(n_subjects=3, clips=4, size=32, landmarks=True, sequence_frames=5, sequence_size=16)
    describe = linear.DESCRIPTORS[config.method]
    every = describe(config, data, np.arange(len(data)))
    rows = np.array([7, 2, 5])
    np.testing.assert_array_equal(describe(config, data.subset(rows), np.arange(3)), every[rows])
    masked = data.with_masked_labels(data.subjects[0])
    np.testing.assert_array_equal(describe(config, masked, np.arange(len(data))), every)
    assert every.dtype == np.float32 and np.isfinite(every).all()


def test_the_descriptor_cache_follows_the_arrays_not_the_labels():
    data = synthetic_features(n_subjects=3, clips=3, size=32)
    config = HoofConfig(grid=4)
    first = linear.describe(config, data)
    assert linear.describe(config, data.with_masked_labels(data.subjects[1])) is first  # arrays shared: reused
    assert linear.describe(HoofConfig(grid=4, c=0.5, classifier="logreg"), data) is first  # classifier: same key
    assert linear.describe(HoofConfig(grid=2), data) is not first  # another descriptor setting
    changed = data.subset(np.arange(len(data)))  # copied arrays, another memory
    changed.flow[0, 0] += 1.0
    assert not np.array_equal(linear.describe(config, changed)[0], first[0])
    assert not first.flags.writeable


@pytest.mark.parametrize(("cls", "values", "message"), [
    (HoofConfig, {"bins": 1}, "bins=1: expected an integer >= 2"),
    (HoofConfig, {"classifier": "forest"}, "classifier='forest': expected one of ['logreg', 'linear_svm']"),
    (HoofConfig, {"method": "mdmo"}, "method='mdmo': expected one of ['hoof']"),
    (MdmoConfig, {"roi_size": 0}, "roi_size=0: expected a number in (0, 2]"),
    (LbpTopConfig, {"radius": 0}, "radius=0: expected an integer >= 1"),
    (LbpTopConfig, {"c": 0, "c_grid": []},
     "c=0: expected a number > 0, or 0 with a non-empty c_grid of numbers > 0 (c_grid=[])"),
])
def test_bad_settings_are_refused_naming_the_parameter(cls, values, message):
    """(Every field of every method configuration: ``test_method_configs.py``.)"""
    for build in (cls.from_dict, lambda v: cls(**v)):
        with pytest.raises(ValueError) as err:
            build(values)
        assert str(err.value) == message
