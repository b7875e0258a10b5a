"""Render one clip: a subject's neutral face moved by a micro-expression, blinks and head motion, then lit,
noised and JPEG-encoded.

Frame ``t`` is ``photometric_t(head_t(warp(neutral_t, d_t)))`` where ``d_t = profile_t * E + closure_t * B`` is
the expression field ``E`` (at apex strength) plus the blink field ``B`` in the neutral face's coordinates,
``neutral_t`` is the neutral face blended toward its closed-eye version while blinking, ``head_t`` is a
small rigid motion (2x3 affine) and ``photometric_t`` an illumination drift plus sensor noise. Geometry is
resampled once per frame (the head motion and the inverse of ``d_t`` are composed into one sampling map).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import cv2
import numpy as np

from preprocessing.demo import hard
from preprocessing.demo.faces import Subject
from preprocessing.demo.motions import (
    REFERENCE_FACE,
    action_unit_field,
    blink_field,
    blink_profile,
    expression_profile,
)
from preprocessing.demo.warp import affine_points, invert_affine, invert_displacement, pixel_grid, remap, sample_field


@dataclass(frozen=True)
class ClipPlan:
    """Everything drawn for one clip (JSON-ready through ``dataclasses.asdict``)."""

    subject: str
    clip: str
    emotion: str
    label: str
    action_units: tuple[int, ...]
    onset: int  # absolute frame number of the first frame
    n_frames: int
    apex_index: int  # apex = onset + apex_index
    release: float  # fraction of the expression released by the offset
    amplitude_224: float  # peak apex displacement at the 224-px face scale
    asymmetry: float
    head_rotation_deg: float  # static roll of this clip's pose
    head_translation: tuple[float, float]  # static shift of this clip's pose, px
    drift_rotation_deg: float  # roll drift from onset to offset
    drift_translation: tuple[float, float]  # shift drift from onset to offset, px
    tremor_px: float  # amplitude of a sinusoidal head tremor
    tremor_period: float  # frames
    tremor_phase: float
    blink_start: int  # frame index where a blink starts (-1: no blink)
    blink_duration: int
    blink_closure: float  # peak lid closure in [0, 1]
    gain_drift: float  # relative brightness change from onset to offset
    gradient_drift: float  # relative change of a linear illumination gradient from onset to offset
    gradient_angle_deg: float
    noise_sigma: float  # sensor noise std, grey levels
    noise_seed: int
    # hard preset only (preprocessing/demo/hard.py); the defaults leave an easy clip's frames as they were
    components: tuple[tuple[float, ...], ...] = ()  # (au, weight, dx, dy, turn, scale, asymmetry); () = action_units
    sheet_label: str = ""  # the class the coding sheet's emotion means ("" = label); differs under label noise
    sheet_emotion: str = ""  # the emotion the sheet writes ("" = emotion)
    sheet_apex_index: int = -1  # the sheet's apex (an annotation off by a few frames; -1 = apex_index)
    distractor_kind: str = ""  # a non-emotional movement on top ("" = none): speech, swallow, lid twitch, glance
    distractor: tuple[tuple[float, ...], ...] = ()  # its components, as ``components``
    distractor_amplitude_224: float = 0.0  # its peak displacement at the 224-px face scale
    distractor_start: int = -1  # its own raised-cosine pulse: start frame index and duration
    distractor_duration: int = 0
    nod_px: float = 0.0  # a head nod: peak vertical head shift at the 224-px face scale (+ down), with its pulse
    nod_start: int = -1
    nod_duration: int = 0
    flicker: float = 0.0  # std of a per-frame relative gain and gradient jitter
    jpeg_quality: int = 0  # this clip's JPEG quality (0 = the dataset's)
    wrinkle_depth: float = 0.0  # skin folds' darkening where the skin is compressed (wrinkle_shading; 0 = none)

    @property
    def apex(self) -> int:
        return self.onset + self.apex_index

    @property
    def sheet_apex(self) -> int:
        """The apex the coding sheet gives (the true one unless the annotation is off)."""
        return self.onset + (self.sheet_apex_index if self.sheet_apex_index >= 0 else self.apex_index)

    @property
    def offset(self) -> int:
        return self.onset + self.n_frames - 1

    @property
    def frame_numbers(self) -> list[int]:
        return list(range(self.onset, self.onset + self.n_frames))


@dataclass
class RenderedClip:
    """The frames of a clip and its exact ground truth."""

    frames: list[np.ndarray]  # n x (H, W, 3) uint8 RGB
    amplitude_px: float  # peak apex displacement in frame pixels
    expression: np.ndarray  # (H, W, 2) float32 E: apex expression field, neutral-face coordinates
    blink: np.ndarray  # (H, W, 2) float32 B: full-closure blink field, neutral-face coordinates
    profile: np.ndarray  # (n,) expression intensity per frame
    closure: np.ndarray  # (n,) lid closure per frame
    head: np.ndarray  # (n, 2, 3) neutral-face -> frame affine per frame
    micro: np.ndarray  # (H, W, 2) float32 onset -> apex micro-expression flow in the onset frame's coordinates
    landmarks_onset: np.ndarray  # (68, 2) true landmarks in the onset frame
    distractor: np.ndarray | None = None  # (H, W, 2) float32 D: a distractor's peak field (hard preset), or None
    distractor_profile: np.ndarray | None = None  # (n,) its intensity per frame


LATER_PLAN_FIELDS = ("wrinkle_depth",)  # added after the presets: left out of a clip's record at their defaults


def plan_record(plan: ClipPlan) -> dict:
    """``dataclasses.asdict(plan)`` without the ``LATER_PLAN_FIELDS`` at their defaults (earlier demos' records)."""
    record = asdict(plan)
    for name in LATER_PLAN_FIELDS:
        if record[name] == ClipPlan.__dataclass_fields__[name].default:
            del record[name]
    return record


HARD_FIELDS = tuple(f for f in ClipPlan.__dataclass_fields__ if f not in (
    "subject", "clip", "emotion", "label", "action_units", "onset", "n_frames", "apex_index", "release",
    "amplitude_224", "asymmetry", "head_rotation_deg", "head_translation", "drift_rotation_deg", "drift_translation",
    "tremor_px", "tremor_period", "tremor_phase", "blink_start", "blink_duration", "blink_closure", "gain_drift",
    "gradient_drift", "gradient_angle_deg", "noise_sigma", "noise_seed"))  # ClipPlan fields only hard clips use


def head_affines(plan: ClipPlan, centre: np.ndarray, face_scale: float = 1.0) -> np.ndarray:
    """(n, 2, 3) neutral-face -> frame rigid transforms (rotation about ``centre`` plus translation).

    ``face_scale``: frame pixels per pixel at the 224-px face scale (converts ``plan.nod_px``).
    """
    s = np.arange(plan.n_frames, dtype=np.float64) / (plan.n_frames - 1)
    t = np.arange(plan.n_frames, dtype=np.float64)
    tremor = plan.tremor_px * np.sin(2 * np.pi * t / plan.tremor_period + plan.tremor_phase)
    nod = plan.nod_px * face_scale * hard.pulse(plan.n_frames, plan.nod_start, plan.nod_duration)
    affines = np.zeros((plan.n_frames, 2, 3))
    for i in range(plan.n_frames):
        theta = np.deg2rad(plan.head_rotation_deg + plan.drift_rotation_deg * s[i])
        rotation = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
        shift = np.asarray(plan.head_translation) + np.asarray(plan.drift_translation) * s[i]
        shift = shift + tremor[i] * np.array([0.6, 0.8])  # a nod-like tremor, mostly vertical
        if plan.nod_px:
            shift = shift + nod[i] * np.array([0.0, 1.0])
        affines[i, :, :2] = rotation
        affines[i, :, 2] = centre + shift - rotation @ centre
    return affines


EYES = ((slice(36, 42), [37, 38], [41, 40], [36, 39]), (slice(42, 48), [43, 44], [47, 46], [42, 45]))


def _eye_mask(points: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """(H, W, 1) float32 soft mask of one eye opening, grown to cover the lashes and the lid crease."""
    mask = np.zeros(shape, dtype=np.uint8)
    centre = points.mean(axis=0)
    grown = centre + (points - centre) * np.array([1.1, 1.6])
    cv2.fillConvexPoly(mask, np.round(grown * 16).astype(np.int32), 255, lineType=cv2.LINE_AA, shift=4)
    return cv2.GaussianBlur(mask.astype(np.float32) / 255.0, (0, 0), 1.2)[..., None]


def closed_eyes(subject: Subject) -> np.ndarray:
    """The subject's neutral face with both eyes shut: lid skin slid down over each eye, and a dark lash line.

    Returns:
        (H, W, 3) float32 RGB; equal to the neutral face away from the eyes.
    """
    shape = subject.image.shape[:2]
    landmarks = subject.landmarks
    lids = subject.image.copy()
    lashes = np.zeros(shape, dtype=np.uint8)
    width = max(int(round(subject.face_size / 110)), 1)  # ~2 px lash line at a 224-px face
    for eye, upper, lower, corners in EYES:
        opening = max(float(landmarks[lower, 1].mean() - landmarks[upper, 1].mean()), 2.0)
        above = pixel_grid(shape)
        above[..., 1] -= np.float32(1.3 * opening)  # the skin ~1.3 openings above the eye stands in for the lid
        region = _eye_mask(landmarks[eye], shape)
        lids = lids * (1 - region) + remap(subject.image, above) * region
        line = np.vstack([landmarks[corners[:1]], landmarks[lower] - [0, 0.25 * opening], landmarks[corners[1:]]])
        cv2.polylines(lashes, [np.round(line * 16).astype(np.int32)], False, 255, thickness=width,
                      lineType=cv2.LINE_AA, shift=4)
    darken = cv2.GaussianBlur(lashes.astype(np.float32) / 255.0, (0, 0), 0.8)[..., None] * np.float32(0.6)
    return lids * (1 - darken)


WRINKLE_STRAIN = 0.1  # compression (px / px) at which folds reach their full depth
WRINKLES_PER_FACE = 28  # fold spacing: the face size / 28 (about 7.5 px on a 210 px face)


def wrinkle_shading(field: np.ndarray, corner: np.ndarray, face_size: float, depth: float) -> np.ndarray:
    """(h, w) float32 darkening (0..depth) of the skin folds a displacement field raises at full strength.

    Skin the field compresses (negative divergence) folds into furrows across the direction it is pushed: stripes
    ``face_size / WRINKLES_PER_FACE`` apart, perpendicular to the local displacement, as deep as the compression
    (full ``depth`` from ``WRINKLE_STRAIN``). Stretched or still skin stays smooth. ``field`` is (h, w, 2) in the
    neutral face's coordinates with its top-left pixel at ``corner`` ``(x, y)``; the folds are drawn there, so they
    move with the skin. Photometric: the geometric ground truth does not include them.
    """
    u, v = field[..., 0].astype(np.float64), field[..., 1].astype(np.float64)
    compression = np.clip(-(np.gradient(u, axis=1) + np.gradient(v, axis=0)), 0.0, None)
    norm = np.hypot(u, v)
    safe = np.where(norm > 0, norm, 1.0)
    ys, xs = np.mgrid[0 : field.shape[0], 0 : field.shape[1]].astype(np.float64)
    along = (xs + corner[0]) * u / safe + (ys + corner[1]) * v / safe  # position along the push
    stripes = 0.5 * (1.0 + np.sin(2 * np.pi * along * WRINKLES_PER_FACE / face_size))
    return (depth * np.clip(compression / WRINKLE_STRAIN, 0.0, 1.0) * stripes).astype(np.float32)


def render_clip(subject: Subject, plan: ClipPlan) -> RenderedClip:
    """Render a clip's frames and ground truth.

    Args:
        subject: the subject's neutral face.
        plan: the clip's drawn parameters.

    Returns:
        The frames (RGB uint8) and the exact geometric ground truth.
    """
    shape = subject.image.shape[:2]
    height, width = shape
    amplitude_px = plan.amplitude_224 * subject.face_size / REFERENCE_FACE
    if plan.components:
        expression = hard.components_field(subject.landmarks, plan.components, amplitude_px, shape,
                                           subject.face_size)
    else:
        expression = action_unit_field(subject.landmarks, plan.action_units, amplitude_px, shape,
                                       asymmetry=plan.asymmetry)
    distractor, distractor_profile = None, None
    if plan.distractor:
        distractor = hard.components_field(subject.landmarks, plan.distractor,
                                           plan.distractor_amplitude_224 * subject.face_size / REFERENCE_FACE,
                                           shape, subject.face_size)
        distractor_profile = hard.pulse(plan.n_frames, plan.distractor_start, plan.distractor_duration)
    profile = expression_profile(plan.n_frames, plan.apex_index, release=plan.release)
    if plan.blink_start >= 0:
        blink = blink_field(subject.landmarks, shape)
        closure = plan.blink_closure * blink_profile(plan.n_frames, plan.blink_start, plan.blink_duration)
        lidded = closed_eyes(subject)
    else:
        blink = np.zeros((*shape, 2), dtype=np.float32)
        closure = np.zeros(plan.n_frames)
    head = head_affines(plan, subject.landmarks.mean(axis=0), subject.face_size / REFERENCE_FACE)

    grid = pixel_grid(shape)
    # pixels within the largest displacement (+2 px) of the moving region: the only ones the warp can change
    moving = (np.abs(expression).sum(axis=-1) + np.abs(blink).sum(axis=-1)) > 0
    grow = int(np.ceil(np.abs(expression).max() + np.abs(blink).max())) + 2
    if distractor is not None:
        moving |= np.abs(distractor).sum(axis=-1) > 0
        grow += int(np.ceil(np.abs(distractor).max()))
    reach = cv2.dilate(moving.astype(np.uint8), np.ones((2 * grow + 1, 2 * grow + 1), np.uint8))
    # the fields cropped to that region (its rim is zero, so sampling clamped to the crop stays exact)
    rows, cols = np.flatnonzero(reach.any(axis=1)), np.flatnonzero(reach.any(axis=0))
    y0, y1, x0, x1 = (rows[0], rows[-1] + 1, cols[0], cols[-1] + 1) if rows.size else (0, 1, 0, 1)
    corner = np.float32([x0, y0])
    expression_crop, blink_crop = expression[y0:y1, x0:x1], blink[y0:y1, x0:x1]
    distractor_crop = distractor[y0:y1, x0:x1] if distractor is not None else None
    extra = distractor_profile if distractor_profile is not None else np.zeros(plan.n_frames)
    folds = None
    if plan.wrinkle_depth > 0 and rows.size:  # (expression folds, distractor folds) in the crop
        folds = (wrinkle_shading(expression_crop, corner, subject.face_size, plan.wrinkle_depth),
                 None if distractor_crop is None
                 else wrinkle_shading(distractor_crop, corner, subject.face_size, plan.wrinkle_depth))
    ramp_angle = np.deg2rad(plan.gradient_angle_deg)
    ramp = ((grid[..., 0] - width / 2) * np.cos(ramp_angle) + (grid[..., 1] - height / 2) * np.sin(ramp_angle)) / width
    noise_rng = np.random.default_rng(plan.noise_seed)
    noise_scale = np.float32(plan.noise_sigma / np.sqrt(1 / 6))  # u1 + u2 - 1 has std sqrt(1/6)
    # per-frame flicker of the gain and of the gradient (mains flicker, auto-exposure), independent per frame
    flicker = (np.random.default_rng([plan.noise_seed, 1]).normal(0.0, plan.flicker, (2, plan.n_frames))
               if plan.flicker else np.zeros((2, plan.n_frames)))
    frames = []
    for i in range(plan.n_frames):
        targets = affine_points(invert_affine(head[i]), grid)  # frame pixel -> deformed neutral face
        if (profile[i] > 0 or closure[i] > 0 or extra[i] > 0) and rows.size:
            field = expression_crop * np.float32(profile[i])
            if closure[i] > 0:
                field += blink_crop * np.float32(closure[i])
            if extra[i] > 0:
                field += distractor_crop * np.float32(extra[i])
            # only pixels whose target lies near the field's support can move: invert the field there alone
            active = np.flatnonzero(cv2.warpAffine(reach, head[i], (width, height), flags=cv2.INTER_NEAREST))
            flat = targets.reshape(-1, 2)
            flat[active] = invert_displacement(field, flat[active] - corner) + corner
        source = subject.image
        if closure[i] > 0:
            source = subject.image * np.float32(1 - closure[i]) + lidded * np.float32(closure[i])
        if folds is not None and (profile[i] > 0 or extra[i] > 0):
            darkening = folds[0] * np.float32(profile[i])
            if folds[1] is not None and extra[i] > 0:
                darkening = darkening + folds[1] * np.float32(extra[i])
            source = source.astype(np.float32, copy=True)
            source[y0:y1, x0:x1] *= (1 - np.clip(darkening, 0.0, 1.0))[..., None]
        image = remap(source, targets)  # (H, W, 3) float32
        s = i / (plan.n_frames - 1)
        light = (np.float32(1 + plan.gain_drift * s + flicker[0, i])
                 + np.float32(plan.gradient_drift * s + flicker[1, i]) * ramp)
        image *= light[..., None]
        # sensor noise on the luminance: zero-mean, std noise_sigma, triangular (two uniforms: 3x cheaper than a
        # normal); independent per pixel and frame
        noise = noise_rng.random((2, height, width, 1), dtype=np.float32)
        noise[0] += noise[1]
        noise[0] -= np.float32(1)
        noise[0] *= noise_scale
        image += noise[0]
        np.maximum(image, 0, out=image)
        frames.append(cv2.convertScaleAbs(image))  # rounds and saturates to uint8

    # Ground truth in the onset frame: the expression is at rest there (profile 0, no blink), so a point q of
    # the onset frame is the neutral point p = head_0^-1(q), which the apex shows at head_0(p + E(p)).
    onset_points = affine_points(invert_affine(head[0]), grid)
    micro = sample_field(expression, onset_points) @ head[0][:, :2].T.astype(np.float32)
    landmarks_onset = affine_points(head[0], subject.landmarks.astype(np.float32))
    return RenderedClip(frames=frames, amplitude_px=amplitude_px, expression=expression, blink=blink,
                        profile=profile, closure=closure, head=head, micro=micro.astype(np.float32),
                        landmarks_onset=landmarks_onset.astype(np.float64), distractor=distractor,
                        distractor_profile=distractor_profile)
