"""warp_image: the optical flow from an image to its warp is the given field (exactly, not to first order)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from preprocessing.demo import displacement_field, warp_image
from preprocessing.demo.faces import load_base_face
from preprocessing.demo.warp import FoldingFieldError, invert_displacement, pixel_grid, sample_field


def _blobs(shape, centres, sigma=2.5):
    ys, xs = np.mgrid[0:shape[0], 0:shape[1]].astype(np.float64)
    image = np.zeros(shape)
    for cx, cy in centres:
        image += np.exp(-((xs - cx) ** 2 + (ys - cy) ** 2) / (2 * sigma**2))
    return (image * 200).astype(np.float32)


def _centroid(image, cx, cy, half=9):
    x0, y0 = int(round(cx)) - half, int(round(cy)) - half
    patch = image[y0:y0 + 2 * half + 1, x0:x0 + 2 * half + 1].astype(np.float64)
    ys, xs = np.mgrid[0:patch.shape[0], 0:patch.shape[1]]
    return np.array([(xs * patch).sum() / patch.sum() + x0, (ys * patch).sum() / patch.sum() + y0])


def _smooth_field(shape, rng, amplitude=2.5, wavelength=120):
    """A non-uniform smooth field: random low-frequency sinusoids."""
    ys, xs = np.mgrid[0:shape[0], 0:shape[1]].astype(np.float64)
    field = np.zeros((*shape, 2))
    for c in range(2):
        for _ in range(3):
            kx, ky = rng.uniform(-1, 1, 2) * 2 * np.pi / wavelength
            field[..., c] += rng.uniform(0.3, 1.0) * np.sin(kx * xs + ky * ys + rng.uniform(0, 2 * np.pi))
    return (field * amplitude / np.abs(field).max()).astype(np.float32)


def test_each_point_moves_by_the_field_at_that_point(rng):
    """Warp the image of its own coordinates: the result at q names the source point p, and p + f(p) = q."""
    shape = (160, 160)
    field = _smooth_field(shape, rng, amplitude=3.0, wavelength=60)
    grid = pixel_grid(shape)
    source = warp_image(grid, field)  # (H, W, 2): a linear ramp is resampled exactly (up to remap's 1/32 px)
    inner = (slice(10, -10), slice(10, -10))
    landed = source + sample_field(field, source)
    assert np.abs(landed - grid)[inner].max() < 0.02
    first_order = grid - sample_field(field, grid)  # what a plain backward remap by -f would sample
    assert np.abs(first_order + sample_field(field, first_order) - grid)[inner].max() > 0.2


def test_uniform_subpixel_shift_matches_the_field():
    shape = (96, 96)
    image = _blobs(shape, [(40.0, 50.0)])
    shifted = warp_image(image, np.broadcast_to(np.float32([0.37, -0.61]), (*shape, 2)).copy())
    centre = _centroid(shifted, 40.37, 49.39)
    assert centre == pytest.approx([40.37, 49.39], abs=0.02)


def test_inverse_is_exact_not_first_order(rng):
    shape = (128, 128)
    field = _smooth_field(shape, rng, amplitude=3.0)
    grid = pixel_grid(shape)
    source = invert_displacement(field, grid)
    # p + f(p) must land back on the grid; the first-order guess q - f(q) misses by |grad f| * |f|
    residual = np.abs(source + sample_field(field, source) - grid).max()
    first_order = grid - sample_field(field, grid)
    naive = np.abs(first_order + sample_field(field, first_order) - grid).max()
    assert residual < 1e-3 < naive


def test_tvl1_measures_the_field_on_a_real_face():
    """The optical flow a real method measures between a face and its warp is the field (sub-pixel)."""
    base = load_base_face("grace_hopper")
    grey = cv2.cvtColor(base.image, cv2.COLOR_RGB2GRAY)
    field = displacement_field(base.landmarks, "surprise", 2.0, grey.shape)
    apex = warp_image(grey, field)
    y0, y1 = 130, 260  # brows and eyes
    x0, x1 = 170, 370
    tvl1 = cv2.optflow.DualTVL1OpticalFlow_create()
    flow = tvl1.calc(grey[y0:y1, x0:x1], apex[y0:y1, x0:x1], None)
    truth = field[y0:y1, x0:x1]
    moving = np.linalg.norm(truth, axis=-1) > 1.0
    assert moving.sum() > 200
    error = np.linalg.norm(flow - truth, axis=-1)
    assert np.median(error[moving]) < 0.3  # vs. a 1-2 px motion
    assert np.median(np.linalg.norm(flow, axis=-1)[~moving]) < 0.3


def test_shape_mismatch_is_rejected():
    with pytest.raises(ValueError, match="does not match image shape"):
        warp_image(np.zeros((10, 12), np.float32), np.zeros((10, 10, 2), np.float32))


def test_a_field_that_folds_is_refused_with_its_own_error():
    # u(x) = 1.5 * 8 * sin(x / 8): its gradient reaches 1.5, so x + u(x) folds back on itself
    grid = pixel_grid((32, 64))
    field = np.zeros((32, 64, 2), np.float32)
    field[..., 0] = 12.0 * np.sin(grid[..., 0] / 8.0)
    with pytest.raises(FoldingFieldError, match="folds"):
        invert_displacement(field, grid)
    field *= 0.3 / 1.5  # gradient 0.3: invertible, p + field(p) lands on the targets
    source = invert_displacement(field, grid)
    assert np.abs(source + sample_field(field, source) - grid).max() < 1e-3
