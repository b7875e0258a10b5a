"""Exact forward warps: an image moved by a displacement field, with the field as its true optical flow.

Convention (OpenCV's flow): a field ``f`` of shape (H, W, 2) holds ``(u, v)`` in pixels, and the pixel at
``(y, x)`` of the source shows up at ``(y + v, x + u)`` of the result: ``source(y, x) ~ result(y + v, x + u)``.
Resampling needs the inverse (for each result pixel ``q``, the source point ``p`` with ``p + f(p) = q``), which
is solved by fixed-point iteration ``p <- q - f(p)``; it converges for fields whose Jacobian stays well below 1,
as every smooth sub-pixel to few-pixel field here does. The only approximation left is OpenCV's bilinear remap,
which rounds sampling positions to 1/32 pixel (an error of at most 1/64 px).
"""

from __future__ import annotations

import cv2
import numpy as np

MAX_ITERATIONS = 50  # fixed-point cap; the residual shrinks by |grad f| (~0.05-0.3 here) per iteration
TOLERANCE = 1e-3  # px: stop when no point moved more than this (remap's own grid is 1/32 px)


def pixel_grid(shape: tuple[int, int]) -> np.ndarray:
    """(H, W, 2) float32 ``(x, y)`` coordinates of every pixel centre."""
    height, width = shape
    xs, ys = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
    return np.stack([xs, ys], axis=-1)


def sample_field(field: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Bilinear values of a (H, W, C) field at (..., 2) ``(x, y)`` points.

    Exact bilinear interpolation (OpenCV's remap would round positions to 1/32 px, which stalls the fixed-point
    inverse at ~|grad f| / 32 px). Points beyond the grid take the nearest edge value.

    Returns:
        (..., C) float32 values.
    """
    points = np.asarray(points, dtype=np.float32)  # float32 resolves 2e-5 px at 384 px: far below any tolerance
    height, width = field.shape[:2]
    x = np.clip(points[..., 0], np.float32(0), np.float32(width - 1))
    y = np.clip(points[..., 1], np.float32(0), np.float32(height - 1))
    x0 = np.minimum(x.astype(np.intp), width - 2)  # x >= 0, so truncation is floor
    y0 = np.minimum(y.astype(np.intp), height - 2)
    fx, fy = (x - x0)[..., None], (y - y0)[..., None]
    flat = field.reshape(height * width, -1)
    index = y0 * width + x0
    top = flat.take(index, axis=0) * (1 - fx) + flat.take(index + 1, axis=0) * fx
    bottom = flat.take(index + width, axis=0) * (1 - fx) + flat.take(index + width + 1, axis=0) * fx
    return (top * (1 - fy) + bottom * fy).astype(np.float32)


class FoldingFieldError(ValueError):
    """A displacement field that folds the image onto itself: it has no inverse (``invert_displacement``)."""


def invert_displacement(field: np.ndarray, targets: np.ndarray, tolerance: float = TOLERANCE) -> np.ndarray:
    """Source points ``p`` with ``p + field(p) = targets``, by fixed-point iteration ``p <- targets - field(p)``.

    Args:
        field: (H, W, 2) float32 forward displacement field ``(u, v)``.
        targets: (H', W', 2) float32 ``(x, y)`` points (usually a pixel grid).
        tolerance: stop once the largest update is below this many pixels.

    Returns:
        (H', W', 2) float32 source points.

    Raises:
        FoldingFieldError: when the iteration does not converge (a field that folds the image onto itself).
    """
    targets = np.asarray(targets, dtype=np.float32)
    field = np.asarray(field, dtype=np.float32)
    source = targets - sample_field(field, targets)
    for _ in range(MAX_ITERATIONS):
        update = targets - sample_field(field, source)
        change = float(np.abs(update - source).max(initial=0.0))
        source = update
        if change < tolerance:
            return source
    raise FoldingFieldError(f"invert_displacement: no convergence after {MAX_ITERATIONS} iterations (last change "
                     f"{change:.3g} px); the field folds: keep its gradient well below 1")


def remap(image: np.ndarray, points: np.ndarray, interpolation: int = cv2.INTER_LINEAR) -> np.ndarray:
    """``image`` sampled at (H, W, 2) ``(x, y)`` points (borders reflected); keeps the dtype.

    Bilinear by default: it reproduces a linear ramp exactly (to remap's 1/32 px grid), so image content lands
    where the map says. OpenCV's bicubic (a = -0.75) does not: it shifts content by up to ~0.05 px with the
    sub-pixel phase, a bias as large as the flow errors this module exists to measure.
    """
    points = np.ascontiguousarray(points, dtype=np.float32)
    return cv2.remap(image, points[..., 0], points[..., 1], interpolation, borderMode=cv2.BORDER_REFLECT_101)


def warp_image(image: np.ndarray, field: np.ndarray) -> np.ndarray:
    """Move ``image`` by the forward displacement ``field``: the optical flow from ``image`` to the result is ``field``.

    Args:
        image: (H, W) or (H, W, C) image (uint8 or float32).
        field: (H, W, 2) float32 ``(u, v)`` in pixels, defined on ``image``'s grid.

    Returns:
        The warped image, same shape and dtype: ``image(y, x) ~ result(y + v(y, x), x + u(y, x))``.

    Raises:
        ValueError: when the field's shape does not match the image.
    """
    field = np.asarray(field)
    if field.shape != (*image.shape[:2], 2):
        raise ValueError(f"warp_image: field shape {field.shape} does not match image shape {image.shape}; "
                         f"expected {(*image.shape[:2], 2)}")
    return remap(image, invert_displacement(field, pixel_grid(image.shape[:2])))


def affine_points(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Apply a (2, 3) affine matrix to (..., 2) ``(x, y)`` points (float32 out)."""
    points = np.asarray(points, dtype=np.float32)
    out = cv2.transform(points.reshape(-1, 1, 2), np.asarray(matrix, dtype=np.float64))
    return out.reshape(points.shape)


def invert_affine(matrix: np.ndarray) -> np.ndarray:
    """Inverse of a (2, 3) affine matrix."""
    return cv2.invertAffineTransform(np.asarray(matrix, dtype=np.float64))
