"""Facial masks (paper, Pre-processing and Fig. 2e): which pixels of the aligned face carry expression motion.

The mask is 1 where flow is kept and 0 where it is masked out:

- the eyes (landmarks 36-41 and 42-47, hull dilated): blinks and gaze shifts move the lids by several pixels
  and would dominate the sub-pixel muscle motion of a micro-expression (the paper masks them for this reason);
- everything outside the face (background, hair, neck, clothes): no facial muscle there, and any residual head
  motion or illumination change there is noise. The face region is the convex hull of the jaw line (0-16) and
  the brows (17-26) raised by ``forehead_px``, so the brow raise of surprise (AU1/AU2) and the forehead
  wrinkles above it stay inside;
- optionally the nose bridge and tip (27-35 hull): rigid, it moves with the head rather than with an
  expression (off by default because the nose wrinkler, AU9, marks disgust).

Pixel sizes are given at 224x224 and scaled with the output size. The mask is stored with each sample; applying
it to the features is a training-time choice.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

REFERENCE_SIZE = 224  # the size at which MaskConfig's pixel margins are given


@dataclass(frozen=True)
class MaskConfig:
    """Which regions ``build_mask`` removes (pixel margins at 224x224, scaled with the face size)."""

    eyes: bool = True  # mask both eyes (blinks)
    eye_dilation_px: int = 5  # grows each eye hull; 5 covers the lids but stops below the brows
    face_hull: bool = True  # mask everything outside the face
    forehead_px: int = 20  # raise the brow points of the hull so the brow raise and forehead stay inside
    face_margin_px: int = 0  # grow (> 0) or shrink (< 0) the face hull
    nose: bool = False  # mask the nose (27-35); off: the nose wrinkler (AU9) is disgust
    nose_dilation_px: int = 3

    def __post_init__(self) -> None:
        for name in ("eye_dilation_px", "forehead_px", "nose_dilation_px"):
            if getattr(self, name) < 0:
                raise ValueError(f"MaskConfig.{name}={getattr(self, name)}: expected 0 or more pixels")


def _scaled(px: int, size: int) -> int:
    return int(round(px * size / REFERENCE_SIZE))


def _hull(shape: tuple[int, int], points: np.ndarray) -> np.ndarray:
    """(H, W) uint8 {0, 1}: the filled convex hull of (N, 2) points."""
    region = np.zeros(shape, np.uint8)
    hull = cv2.convexHull(np.round(points).astype(np.int32))
    cv2.fillConvexPoly(region, hull, 1, lineType=cv2.LINE_8)
    return region


def _grow(region: np.ndarray, px: int) -> np.ndarray:
    """Dilate (px > 0) or erode (px < 0) a {0, 1} region with a disc of radius |px|."""
    if px == 0:
        return region
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * abs(px) + 1, 2 * abs(px) + 1))
    return cv2.dilate(region, disc) if px > 0 else cv2.erode(region, disc)


def build_mask(landmarks: np.ndarray, size: int | tuple[int, int], config: MaskConfig | None = None) -> np.ndarray:
    """Build the motion mask of an aligned face.

    Args:
        landmarks: (68, 2) landmarks in aligned coordinates (``Alignment.landmarks``).
        size: side of the aligned square, or its (H, W).
        config: regions to mask; ``MaskConfig()`` when omitted.

    Returns:
        (H, W) uint8, 1 = kept, 0 = masked out.
    """
    config = config or MaskConfig()
    landmarks = np.asarray(landmarks, dtype=np.float64)
    if landmarks.shape != (68, 2):
        raise ValueError(f"build_mask: expected (68, 2) landmarks, got shape {landmarks.shape}")
    shape = (size, size) if isinstance(size, int) else tuple(size)
    scale_ref = shape[0]
    mask = np.ones(shape, np.uint8)
    if config.face_hull:
        brows = landmarks[17:27].copy()
        brows[:, 1] -= _scaled(config.forehead_px, scale_ref)
        face = _hull(shape, np.vstack([landmarks[0:17], brows]))
        mask &= _grow(face, _scaled(config.face_margin_px, scale_ref))
    if config.eyes:
        for eye in (landmarks[36:42], landmarks[42:48]):
            mask &= 1 - _grow(_hull(shape, eye), _scaled(config.eye_dilation_px, scale_ref))
    if config.nose:
        mask &= 1 - _grow(_hull(shape, landmarks[27:36]), _scaled(config.nose_dilation_px, scale_ref))
    return mask
