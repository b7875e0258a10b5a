"""Flow fields and strain as images for people to look at (the float arrays stay the data).

- :func:`flow_to_rgb`: the colour-wheel coding of optical-flow papers: hue = direction, brightness = magnitude
  (scaled to a robust maximum so that sub-pixel micro-motions show);
- :func:`signed_to_gray`: a signed map (u or v) as 8-bit grey, 128 = no motion, 0 / 255 = -/+ the scale;
- :func:`heat`: a non-negative map (strain, magnitude) through OpenCV's inferno colour map;
- :func:`colour_wheel`: the legend of :func:`flow_to_rgb`.
"""

from __future__ import annotations

import cv2
import numpy as np


def robust_max(values: np.ndarray, quantile: float = 0.99, floor: float = 1e-6) -> float:
    """The ``quantile`` of ``|values|`` (a few outliers do not wash the image out), at least ``floor``."""
    flat = np.abs(np.asarray(values, np.float64)).ravel()
    return max(float(np.quantile(flat, quantile)) if flat.size else 0.0, floor)


def flow_to_rgb(u: np.ndarray, v: np.ndarray, scale: float | None = None) -> np.ndarray:
    """(H, W, 3) uint8 RGB colour-wheel image of a flow field (u right, v down, pixels).

    Args:
        u, v: (H, W) flow components.
        scale: magnitude shown at full brightness (default: the 99th percentile of the magnitude).
    """
    magnitude = np.hypot(u, v)
    scale = robust_max(magnitude) if scale is None else max(scale, 1e-6)
    angle = (np.degrees(np.arctan2(v, u)) % 360.0).astype(np.float32)  # direction, image coordinates
    hsv = np.stack([angle / 2.0, np.full_like(angle, 255.0),  # OpenCV's 8-bit hue runs 0..180
                    np.clip(magnitude / scale, 0, 1).astype(np.float32) * 255.0], axis=-1)
    return cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2RGB)


def colour_wheel(size: int = 64) -> np.ndarray:
    """(size, size, 3) uint8 RGB legend of :func:`flow_to_rgb`: each pixel coloured by its offset from the centre."""
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32)
    u, v = xs - (size - 1) / 2, ys - (size - 1) / 2
    wheel = flow_to_rgb(u, v, scale=size / 2)
    wheel[np.hypot(u, v) > size / 2] = 255
    return wheel


def signed_to_gray(values: np.ndarray, scale: float | None = None) -> np.ndarray:
    """(H, W) uint8: 128 + 127 * values / scale, clipped (default scale: the 99th percentile of ``|values|``)."""
    scale = robust_max(values) if scale is None else max(scale, 1e-6)
    return np.clip(128 + 127 * np.asarray(values, np.float64) / scale, 0, 255).astype(np.uint8)


def heat(values: np.ndarray, scale: float | None = None) -> np.ndarray:
    """(H, W, 3) uint8 RGB: ``values / scale`` in [0, 1] through the inferno colour map."""
    scale = robust_max(values) if scale is None else max(scale, 1e-6)
    gray = np.clip(255 * np.asarray(values, np.float64) / scale, 0, 255).astype(np.uint8)
    return cv2.cvtColor(cv2.applyColorMap(gray, cv2.COLORMAP_INFERNO), cv2.COLOR_BGR2RGB)
