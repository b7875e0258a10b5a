"""Synthetic facial motions placed on 68 dlib landmarks: action-unit displacement fields, blinks, time profiles.

Each action unit (AU) is a sum of smooth, compactly supported bumps centred on the landmarks that muscle moves,
each pushing its neighbourhood in one direction of the face's own frame (x along the eye line, y down the face).
The field of an expression is the sum of its AUs, scaled so that its largest displacement equals the requested
amplitude. Outside the bumps the field is exactly zero, so nothing but the moved region carries motion.

Landmark indices (iBUG 68): 17-21 brow on the image's left, 22-26 brow on the image's right (21 and 22 are the
inner ends), 36-41 / 42-47 eyes, 48 / 54 mouth corners (image left / right), 31-35 nostrils.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from preprocessing.annotations.sample import LABELS

REFERENCE_FACE = 224.0  # amplitudes are quoted for a face whose landmark box is 224 px (the aligned crop's scale)

# CASME II emotion -> (3-class label, action units the demo moves for it); alternatives are drawn per clip.
EMOTIONS: dict[str, tuple[str, tuple[tuple[int, ...], ...]]] = {
    "happiness": ("positive", ((12,), (6, 12))),
    "surprise": ("surprise", ((1, 2), (1, 2), (1,))),
    "disgust": ("negative", ((4,), (4,), (4, 15))),
    "repression": ("negative", ((15,), (14, 15), (4, 15))),
}
# The canonical action units of each class, used by `displacement_field` when none are given.
CLASS_ACTION_UNITS: dict[str, tuple[int, ...]] = {"positive": (12,), "surprise": (1, 2), "negative": (4, 15)}


@dataclass(frozen=True)
class Bump:
    """One localised push: ``landmarks`` (indices, averaged) moved along ``direction`` (face frame)."""

    landmarks: tuple[int, ...]
    direction: tuple[float, float]  # (along the eye line toward the image's right, down the face); normalised later
    weight: float = 1.0
    radius: float = 0.11  # support radius as a fraction of the face size (landmark box)
    mirror: bool = True  # also apply the mirror image on the other half of the face


_EYE_LEFT, _EYE_RIGHT = tuple(range(36, 42)), tuple(range(42, 48))  # the six points of each eye opening

# Bumps are given for the image-left half of the face; `mirror` adds the image-right twin (x direction flipped).
# "out" = -x on the image-left half (away from the midline), "up" = -y.
ACTION_UNITS: dict[int, tuple[Bump, ...]] = {
    # inner brow raiser: inner brow ends up
    1: (Bump((21,), (0.0, -1.0)), Bump((20,), (0.0, -1.0), 0.8)),
    # outer brow raiser: outer brow up (and slightly out)
    2: (Bump((18,), (-0.15, -1.0)), Bump((17,), (-0.2, -1.0), 0.7)),
    # brow lowerer: inner brows down and together
    4: (Bump((21,), (0.75, 0.65)), Bump((20,), (0.45, 0.9), 0.6)),
    # cheek raiser: cheeks up below the eyes (outside the eye hull)
    6: (Bump((2, 31), (0.0, -1.0), 0.45, 0.12),),
    # lip corner puller: corners up and out, toward the cheekbone
    12: (Bump((48,), (-0.6, -0.8)), Bump((48, 31), (-0.3, -0.95), 0.45, 0.13)),
    # dimpler: corners pulled straight out
    14: (Bump((48,), (-1.0, -0.1), 0.6),),
    # lip corner depressor: corners down (and slightly out)
    15: (Bump((48,), (-0.25, 1.0)), Bump((48, 5), (-0.1, 1.0), 0.45, 0.12)),
    # --- moved by the hard preset only (the easy demo's classes move the AUs above) ---
    # upper lid raiser: upper lids up
    5: (Bump((37, 38), (0.0, -1.0), 1.0, 0.06),),
    # lid tightener: lower lids up and in
    7: (Bump((40, 41), (0.25, -1.0), 1.0, 0.06), Bump((36,), (0.4, -0.6), 0.5, 0.05)),
    # nose wrinkler: the sides of the nose up, the upper lip a little
    9: (Bump((31, 29), (0.15, -1.0), 1.0, 0.08), Bump((50,), (0.0, -1.0), 0.4, 0.07)),
    # upper lip raiser
    10: (Bump((50, 49), (0.0, -1.0), 1.0, 0.08),),
    # chin raiser: chin and lower lip up (midline: no mirror)
    17: (Bump((8,), (0.0, -1.0), 1.0, 0.12, False), Bump((57,), (0.0, -1.0), 0.6, 0.08, False)),
    # lip stretcher: corners pulled out and a little down
    20: (Bump((48,), (-1.0, 0.3), 0.8, 0.1),),
    # lip pressor: lips pressed together and in
    24: (Bump((51,), (0.0, 1.0), 0.7, 0.06, False), Bump((57,), (0.0, -1.0), 0.7, 0.06, False),
         Bump((48,), (0.8, 0.0), 0.5, 0.07)),
    # lips part: the lower lip drops a little
    25: (Bump((57,), (0.0, 1.0), 1.0, 0.08, False),),
    # jaw drop: chin and lower lip down
    26: (Bump((8,), (0.0, 1.0), 1.0, 0.16, False), Bump((57,), (0.0, 1.0), 0.8, 0.1, False)),
    # eyes turn toward the image's left / right (a glance: the iris and lids inside each eye opening)
    61: (Bump(_EYE_LEFT, (-1.0, 0.0), 1.0, 0.03, False), Bump(_EYE_RIGHT, (-1.0, 0.0), 1.0, 0.03, False)),
    62: (Bump(_EYE_LEFT, (1.0, 0.0), 1.0, 0.03, False), Bump(_EYE_RIGHT, (1.0, 0.0), 1.0, 0.03, False)),
}

# dlib 68-point left/right correspondence (image-left index -> image-right index) for the points bumps use.
MIRROR = {17: 26, 18: 25, 19: 24, 20: 23, 21: 22, 2: 14, 3: 13, 4: 12, 5: 11, 31: 35, 48: 54, 36: 45, 39: 42,
          37: 44, 38: 43, 40: 47, 41: 46, 49: 53, 50: 52, 29: 29}


def face_frame(landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """The face's own axes and size.

    Returns:
        ``(x_axis, y_axis, size)``: unit (2,) vectors along the eye line (image-left eye -> image-right eye) and
        down the face, and the face size in pixels (larger side of the landmark box, rotation removed).
    """
    landmarks = np.asarray(landmarks, dtype=np.float64)
    x_axis = landmarks[42:48].mean(axis=0) - landmarks[36:42].mean(axis=0)
    x_axis /= np.linalg.norm(x_axis)
    y_axis = np.array([-x_axis[1], x_axis[0]])
    local = landmarks @ np.stack([x_axis, y_axis], axis=1)  # (68, 2) in the face frame
    size = float(np.ptp(local, axis=0).max())
    return x_axis, y_axis, size


def _kernel(dist2: np.ndarray, radius: float) -> np.ndarray:
    """Compactly supported smooth bump (1 - r^2/R^2)^3 (C1 at the rim, zero beyond it)."""
    s = np.clip(1.0 - dist2 / (radius * radius), 0.0, None)
    return s * s * s


def add_bump(field: np.ndarray, centre: np.ndarray, vector: np.ndarray, radius: float,
             axes: tuple[float, float] | None = None, frame: np.ndarray | None = None) -> None:
    """Add ``vector * kernel`` around ``centre`` to ``field`` in place (only the bump's bounding box is touched).

    Args:
        field: (H, W, 2) float32 field.
        centre: (2,) ``(x, y)``.
        vector: (2,) displacement at the centre, in pixels.
        radius: support radius in pixels (isotropic) unless ``axes`` is given.
        axes: optional ``(rx, ry)`` radii of an elliptical support in the face frame ``frame`` ((2, 2) rows x, y).
    """
    height, width = field.shape[:2]
    reach = radius if axes is None else max(axes)
    x0, x1 = max(int(np.floor(centre[0] - reach)), 0), min(int(np.ceil(centre[0] + reach)) + 1, width)
    y0, y1 = max(int(np.floor(centre[1] - reach)), 0), min(int(np.ceil(centre[1] + reach)) + 1, height)
    if x0 >= x1 or y0 >= y1:
        return
    dx = np.arange(x0, x1, dtype=np.float64)[None, :] - centre[0]
    dy = np.arange(y0, y1, dtype=np.float64)[:, None] - centre[1]
    if axes is None:
        weight = _kernel(dx * dx + dy * dy, radius)
    else:
        along = dx * frame[0, 0] + dy * frame[0, 1]
        across = dx * frame[1, 0] + dy * frame[1, 1]
        weight = _kernel((along / axes[0]) ** 2 + (across / axes[1]) ** 2, 1.0)
    field[y0:y1, x0:x1] += (weight[..., None] * np.asarray(vector, dtype=np.float64)).astype(np.float32)


def action_unit_field(landmarks: np.ndarray, action_units: Sequence[int], amplitude: float,
                      shape: tuple[int, int], *, asymmetry: float = 0.0, radius_scale: float = 1.0) -> np.ndarray:
    """Displacement field of a set of action units, peak displacement ``amplitude`` pixels.

    Args:
        landmarks: (68, 2) ``(x, y)`` dlib landmarks of the face in the field's image.
        action_units: FACS numbers among ``ACTION_UNITS``.
        amplitude: largest displacement in pixels (image pixels, at this face's size).
        shape: ``(H, W)`` of the field.
        asymmetry: in [-1, 1]; the image-left half is scaled by ``1 - asymmetry``, the right by ``1 + asymmetry``
            before the peak is set to ``amplitude``.
        radius_scale: multiplies every bump's support radius (a subject's larger or smaller muscle).

    Returns:
        (H, W, 2) float32 ``(u, v)`` field, exactly zero away from the moved landmarks.
    """
    landmarks = np.asarray(landmarks, dtype=np.float64)
    if landmarks.shape != (68, 2):
        raise ValueError(f"landmarks: expected a (68, 2) array, got shape {landmarks.shape}")
    unknown = [au for au in action_units if au not in ACTION_UNITS]
    if unknown or not action_units:
        raise ValueError(f"action units {list(action_units)}: expected a non-empty subset of {sorted(ACTION_UNITS)}")
    if not -1.0 <= asymmetry <= 1.0:
        raise ValueError(f"asymmetry={asymmetry}: expected a value in [-1, 1]")
    if amplitude < 0:
        raise ValueError(f"amplitude={amplitude}: expected a displacement of 0 or more pixels")
    x_axis, y_axis, size = face_frame(landmarks)
    field = np.zeros((*shape, 2), dtype=np.float32)
    for au in action_units:
        for bump in ACTION_UNITS[au]:
            direction = np.asarray(bump.direction, dtype=np.float64)
            direction /= np.linalg.norm(direction)
            sides = [(bump.landmarks, direction, 1.0 - asymmetry)]
            if bump.mirror:
                twin = tuple(MIRROR[i] for i in bump.landmarks)
                sides.append((twin, direction * np.array([-1.0, 1.0]), 1.0 + asymmetry))
            for indices, local, side_weight in sides:
                centre = landmarks[list(indices)].mean(axis=0)
                vector = (local[0] * x_axis + local[1] * y_axis) * bump.weight * side_weight
                add_bump(field, centre, vector, bump.radius * size * radius_scale)
    peak = float(np.sqrt((field.astype(np.float64) ** 2).sum(axis=-1)).max())
    if peak > 0:
        field *= np.float32(amplitude / peak)
    return field


def displacement_field(landmarks: np.ndarray, cls: str, amplitude: float, shape: tuple[int, int], *,
                       asymmetry: float = 0.0, action_units: Sequence[int] | None = None) -> np.ndarray:
    """Onset -> apex displacement field of a micro-expression of class ``cls``.

    positive: lip corners up and out (AU12); surprise: brows up (AU1+2); negative: inner brows down and together
    (AU4) and lip corners down (AU15).

    Args:
        landmarks: (68, 2) ``(x, y)`` dlib landmarks of the face (onset frame).
        cls: one of ``LABELS`` ("negative", "positive", "surprise").
        amplitude: peak displacement in pixels of this image (``REFERENCE_FACE`` / face size converts from the
            224-px face scale at which the demo draws 0.5-3 px).
        shape: ``(H, W)`` of the image.
        asymmetry: in [-1, 1], see ``action_unit_field``.
        action_units: override the class's canonical action units (``CLASS_ACTION_UNITS``).

    Returns:
        (H, W, 2) float32 ``(u, v)`` in pixels, OpenCV flow convention: ``onset(y, x) ~ apex(y + v, x + u)``.
    """
    if cls not in CLASS_ACTION_UNITS:
        raise ValueError(f"class {cls!r}: expected one of {LABELS}")
    return action_unit_field(landmarks, action_units or CLASS_ACTION_UNITS[cls], amplitude, shape,
                             asymmetry=asymmetry)


def blink_field(landmarks: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Displacement of a fully closed blink: both upper lids pulled down over the eye, confined to the eyes.

    Returns:
        (H, W, 2) float32 field for closure 1 (scale it by the closure in [0, 1]).
    """
    landmarks = np.asarray(landmarks, dtype=np.float64)
    x_axis, y_axis, _ = face_frame(landmarks)
    frame = np.stack([x_axis, y_axis])
    field = np.zeros((*shape, 2), dtype=np.float32)
    for eye, upper, lower in ((slice(36, 42), [37, 38], [40, 41]), (slice(42, 48), [43, 44], [46, 47])):
        points = landmarks[eye]
        width = float(np.linalg.norm(points[3] - points[0]))
        opening = float(np.dot(landmarks[lower].mean(axis=0) - landmarks[upper].mean(axis=0), y_axis))
        centre = points.mean(axis=0)
        # the lid travels about half the opening; the rest of the closure is the lid's colour (see render.py)
        add_bump(field, centre, 0.5 * max(opening, 1.0) * y_axis, 0.0, axes=(0.6 * width, 0.45 * width),
                 frame=frame)
    return field


def expression_profile(n_frames: int, apex_index: int, *, release: float = 1.0) -> np.ndarray:
    """Intensity per frame: 0 at the onset (frame 0), 1 at the apex, back toward 0 at the offset (last frame).

    Raised-cosine rise and fall (smooth, like a muscle contraction).

    Args:
        n_frames: frames from onset to offset inclusive.
        apex_index: index of the apex, ``0 < apex_index < n_frames - 1``.
        release: fraction of the intensity released by the offset (1 = fully back to neutral).

    Returns:
        (n_frames,) float64 intensities.
    """
    if not 0 < apex_index < n_frames - 1:
        raise ValueError(f"apex_index={apex_index}: expected 0 < apex < {n_frames - 1} (onset < apex < offset)")
    t = np.arange(n_frames, dtype=np.float64)
    rise = 0.5 * (1 - np.cos(np.pi * t / apex_index))
    fall = 1 - release * 0.5 * (1 - np.cos(np.pi * (t - apex_index) / (n_frames - 1 - apex_index)))
    return np.where(t <= apex_index, rise, fall)


def blink_profile(n_frames: int, start: int, duration: int) -> np.ndarray:
    """Lid closure per frame: a raised-cosine pulse from ``start`` lasting ``duration`` frames (0 elsewhere)."""
    t = np.arange(n_frames, dtype=np.float64) - start + 1
    pulse = 0.5 * (1 - np.cos(2 * np.pi * t / (duration + 1)))
    return np.where((t > 0) & (t < duration + 1), pulse, 0.0)
