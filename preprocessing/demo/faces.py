"""Real face photographs shipped inside installed packages, and the per-subject identities built from them.

Only two high-resolution real faces ship with the project's dependencies: scikit-image's ``astronaut`` (Eileen
Collins) and matplotlib's ``grace_hopper`` sample. Each is also used mirrored (landmarks re-detected, so dlib's
index semantics stay image-left / image-right), giving four base faces. A demo subject is one base face made
distinct by: placement (face size, position, roll), an anisotropic rescale and a smooth random warp of the
face geometry, skin tone / gamma / contrast / saturation, a fine skin texture, and a background tint.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.util
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from preprocessing.demo.motions import add_bump, face_frame
from preprocessing.demo.warp import affine_points, pixel_grid, remap, sample_field
from preprocessing.vision.alignment import model_path

# The real photos (add a name here and in `_photo` to use another one; mirrored copies count as the same person).
BASE_FACES = ("astronaut", "astronaut_mirror", "grace_hopper", "grace_hopper_mirror")
BLEND_SHARES = (30, 50, 70)  # percent of the second person in the morphs `identity_faces` lists


@dataclass(frozen=True)
class BaseFace:
    """A real photograph and its dlib landmarks."""

    name: str
    image: np.ndarray  # (H, W, 3) uint8 RGB
    landmarks: np.ndarray  # (68, 2) float64 (x, y)


@dataclass(frozen=True)
class IdentityConfig:
    """Ranges of the per-subject identity changes (uniform draws unless noted)."""

    face_size: tuple[float, float] = (185.0, 225.0)  # landmark-box side in px (the aligned crop shows it ~172 px)
    roll_deg: float = 4.0  # |in-plane head roll| of the neutral pose
    offset_px: float = 10.0  # |shift| of the face centre from the image centre
    stretch: float = 0.06  # |relative change| of face width and height (independently)
    warp_px: float = 0.015  # std of the identity warp's bump vectors, as a fraction of the face size (~3 px)
    warp_bumps: int = 10  # number of identity-warp bumps (placed on random landmarks)
    channel_gain: float = 0.12  # |skin-tone change| per colour channel
    gamma: tuple[float, float] = (0.8, 1.25)
    contrast: tuple[float, float] = (0.85, 1.15)
    brightness: float = 12.0  # |grey-level offset|
    desaturate: tuple[float, float] = (0.0, 0.6)
    texture: float = 3.0  # std (grey levels) of the fine skin texture; gives TV-L1 something to track on smooth skin
    background: tuple[float, float] = (0.35, 0.85)  # blend of the backdrop toward a random colour gradient

    def scaled(self, factor: float) -> IdentityConfig:
        """The same kinds of change, ``factor`` times as strong (geometry, skin tone, gamma, contrast, texture)."""
        if factor == 1.0:
            return self
        return dataclasses.replace(
            self, roll_deg=self.roll_deg * factor, stretch=self.stretch * factor, warp_px=self.warp_px * factor,
            channel_gain=self.channel_gain * factor, gamma=(self.gamma[0] ** factor, self.gamma[1] ** factor),
            contrast=(1 - (1 - self.contrast[0]) * factor, 1 + (self.contrast[1] - 1) * factor),
            texture=self.texture * factor)


@dataclass(frozen=True)
class Subject:
    """A demo subject's neutral face (canvas coordinates = the written frames' coordinates before head motion)."""

    name: str  # "sub01"
    base: str
    image: np.ndarray  # (H, W, 3) float32 RGB in [0, 255]
    landmarks: np.ndarray  # (68, 2) float64
    face_size: float  # landmark-box side in px
    params: dict  # JSON-ready description of the identity changes


@functools.cache
def _dlib_models():
    """dlib's frontal face detector and 68-point predictor, loaded once per process."""
    import dlib

    predictor = dlib.shape_predictor(str(model_path("shape_predictor_68_face_landmarks.dat")))
    return dlib.get_frontal_face_detector(), predictor


def detect_landmarks(image: np.ndarray, upsample: int = 1) -> list[np.ndarray]:
    """(68, 2) float64 landmarks of every face dlib's frontal detector finds (largest first)."""
    detector, predictor = _dlib_models()
    gray = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    boxes = sorted(detector(gray, upsample), key=lambda r: -r.area())
    return [np.array([(p.x, p.y) for p in predictor(gray, box).parts()], dtype=np.float64) for box in boxes]


def _photo(name: str) -> np.ndarray:
    """A base photo as (H, W, 3) uint8 RGB, read from the installed package's data folder."""
    if name == "astronaut":  # what skimage.data.astronaut() loads (reading it directly skips skimage's imports)
        path, package = _package_dir("skimage") / "data" / "astronaut.png", "scikit-image"
    elif name == "grace_hopper":
        path, package = _package_dir("matplotlib") / "mpl-data" / "sample_data" / "grace_hopper.jpg", "matplotlib"
    else:
        raise ValueError(f"base face {name!r}: expected one of {BASE_FACES}")
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise FileNotFoundError(f"{path}: {package}'s sample photo is missing or unreadable; reinstall {package}")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def _package_dir(package: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"{package} is not installed; the demo's face photos ship with it")
    return Path(spec.submodule_search_locations[0])


@functools.cache
def load_base_face(name: str) -> BaseFace:
    """One of ``BASE_FACES``, or a morph ``blend:A:B:S`` of two of them, with its dlib landmarks (once per process).

    ``blend:A:B:S``: B's share ``S`` percent (see ``blend_faces``); A and B are different people.
    """
    if name.startswith("blend:"):
        parts = name.split(":")
        if len(parts) != 4 or not parts[3].isdigit() or not 0 < int(parts[3]) < 100:
            raise ValueError(f"base face {name!r}: expected blend:A:B:S with S a share in 1..99 percent")
        _, first, second, share = parts
        return _detected(name, blend_faces(load_base_face(first), load_base_face(second), int(share) / 100))
    if name not in BASE_FACES:
        raise ValueError(f"base face {name!r}: expected one of {BASE_FACES} or blend:A:B:S of two of them")
    photo = _photo(name.removesuffix("_mirror"))
    if name.endswith("_mirror"):
        photo = np.ascontiguousarray(photo[:, ::-1])
    return _detected(name, photo)


def _detected(name: str, photo: np.ndarray) -> BaseFace:
    faces = detect_landmarks(photo, upsample=0)  # the faces are ~90-180 px: no upsampling needed
    if not faces:
        raise RuntimeError(f"dlib found no face in the {name} photo; the demo needs it (dlib or model changed?)")
    photo.setflags(write=False)  # shared by every caller through the cache
    faces[0].setflags(write=False)
    return BaseFace(name=name, image=photo, landmarks=faces[0])


def person(name: str) -> str:
    """Who a base face shows: ``astronaut_mirror`` is ``astronaut``; a blend is ``A+B``."""
    if name.startswith("blend:"):
        return "+".join(sorted(person(part) for part in name.split(":")[1:3]))
    return name.removesuffix("_mirror")


def identity_faces(bases: tuple[str, ...] = BASE_FACES, shares: tuple[int, ...] = BLEND_SHARES) -> tuple[str, ...]:
    """The base faces plus every morph of two different people among them (``blend:A:B:S`` for each share S)."""
    blends = [f"blend:{a}:{b}:{share}" for a in bases for b in bases if person(a) != person(b) for share in shares]
    return (*bases, *blends)


def _piecewise_affine_map(source: np.ndarray, target: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """(H, W, 2) float32 sampling map: each pixel of the target geometry -> its point in the source image.

    Affine on each triangle of the target points' Delaunay triangulation (``source`` and ``target``: (P, 2)
    corresponding points that include the canvas corners, so every pixel falls in a triangle).
    """
    from scipy.spatial import Delaunay

    triangles = Delaunay(target).simplices
    owner = np.full(shape, -1, dtype=np.int32)  # which triangle each pixel lies in
    affines = np.zeros((len(triangles), 2, 3))
    for k, corners in enumerate(triangles):
        affines[k] = cv2.getAffineTransform(target[corners].astype(np.float32), source[corners].astype(np.float32))
        cv2.fillConvexPoly(owner, np.round(target[corners]).astype(np.int32), k)
    if (owner < 0).any():  # cannot happen with the corners included; kept exact anyway
        raise RuntimeError("piecewise affine warp: pixels outside the triangulation")
    grid = pixel_grid(shape).astype(np.float64)
    m = affines[owner]  # (H, W, 2, 3)
    return (m[..., 0] * grid[..., :1] + m[..., 1] * grid[..., 1:] + m[..., 2]).astype(np.float32)


def blend_faces(a: BaseFace, b: BaseFace, share: float = 0.5) -> np.ndarray:
    """(H, W, 3) uint8 morph of two people in ``a``'s canvas: neither of them, with real skin and features.

    ``b`` is aligned to ``a`` (similarity on the landmarks); both are warped piecewise-affinely onto the mixed
    landmark geometry ``(1 - share) a + share b``; their shading and colour (a Gaussian low band, sigma ~2% of the
    face) are cross-dissolved with weight ``share``, and the fine detail (edges, skin texture, glasses) is the
    dominant face's, so that no half-transparent feature (ghosted glasses) appears. Only the head is mixed; the
    rest of the canvas stays ``a``'s.
    """
    height, width = a.image.shape[:2]
    similarity, _ = cv2.estimateAffinePartial2D(b.landmarks.astype(np.float32), a.landmarks.astype(np.float32))
    b_image = cv2.warpAffine(b.image, similarity, (width, height), flags=cv2.INTER_CUBIC,
                             borderMode=cv2.BORDER_REFLECT_101)
    b_points = affine_points(similarity, b.landmarks.astype(np.float32)).astype(np.float64)
    frame = np.array([[0, 0], [width - 1, 0], [0, height - 1], [width - 1, height - 1], [width / 2, 0],
                      [width / 2, height - 1], [0, height / 2], [width - 1, height / 2]], dtype=np.float64)
    mixed = (1 - share) * a.landmarks + share * b_points
    warped = []
    for image, points in ((a.image, a.landmarks), (b_image, b_points)):
        sampling = _piecewise_affine_map(np.vstack([points, frame]), np.vstack([mixed, frame]), (height, width))
        warped.append(remap(image.astype(np.float32), sampling))
    sigma = 0.02 * face_frame(mixed)[2]
    low = [cv2.GaussianBlur(image, (0, 0), sigma) for image in warped]
    detail = warped[1] - low[1] if share > 0.5 else warped[0] - low[0]
    morph = (1 - share) * low[0] + share * low[1] + detail
    head = _head_ellipse(mixed, (height, width))[..., None]
    return np.clip(np.rint(warped[0] * (1 - head) + morph * head), 0, 255).astype(np.uint8)


def _identity_warp(landmarks: np.ndarray, shape: tuple[int, int], size: float, cfg: IdentityConfig,
                   rng: np.random.Generator) -> np.ndarray:
    """Smooth random (H, W, 2) field that reshapes the face (bumps on random landmarks, radius ~0.3 face)."""
    field = np.zeros((*shape, 2), dtype=np.float32)
    anchors = rng.choice(68, size=cfg.warp_bumps, replace=False)
    vectors = rng.normal(0.0, cfg.warp_px * size, size=(cfg.warp_bumps, 2))
    radii = rng.uniform(0.3, 0.45, size=cfg.warp_bumps) * size
    for anchor, vector, radius in zip(anchors, vectors, radii):
        add_bump(field, landmarks[anchor], vector, float(radius))
    return field


def _head_ellipse(landmarks: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """(H, W) float32 soft mask of the head (face, forehead and hair), 1 inside."""
    x_axis, y_axis, size = face_frame(landmarks)
    centre = landmarks.mean(axis=0) - 0.2 * size * y_axis
    ys, xs = np.mgrid[0:shape[0], 0:shape[1]].astype(np.float64)
    along = (xs - centre[0]) * x_axis[0] + (ys - centre[1]) * x_axis[1]
    across = (xs - centre[0]) * y_axis[0] + (ys - centre[1]) * y_axis[1]
    r = np.sqrt((along / (0.75 * size)) ** 2 + (across / (0.95 * size)) ** 2)
    return np.clip((1.25 - r) / 0.35, 0.0, 1.0).astype(np.float32)


def make_subject(name: str, base: BaseFace, shape: tuple[int, int], rng: np.random.Generator,
                 cfg: IdentityConfig | None = None) -> Subject:
    """Build a distinct neutral face from ``base``.

    Args:
        name: subject folder name, e.g. ``"sub01"``.
        base: the real photo and its landmarks.
        shape: ``(H, W)`` of the frames.
        rng: the subject's random generator.
        cfg: ranges of the identity changes.

    Returns:
        The subject's neutral face, its true landmarks and the parameters drawn.
    """
    cfg = cfg or IdentityConfig()
    height, width = shape
    x_axis, _, base_size = face_frame(base.landmarks)
    face_size = float(rng.uniform(*cfg.face_size))
    roll = float(rng.uniform(-cfg.roll_deg, cfg.roll_deg))
    offset = rng.uniform(-cfg.offset_px, cfg.offset_px, size=2)
    stretch = 1.0 + rng.uniform(-cfg.stretch, cfg.stretch, size=2)  # (width, height) of the face
    # Placement: level the eye line, stretch in the face frame, scale to face_size, roll, centre in the frame.
    angle = np.arctan2(x_axis[1], x_axis[0])
    level = np.array([[np.cos(angle), np.sin(angle)], [-np.sin(angle), np.cos(angle)]])
    rad = np.deg2rad(roll)
    turn = np.array([[np.cos(rad), -np.sin(rad)], [np.sin(rad), np.cos(rad)]])
    linear = turn @ np.diag(stretch * face_size / base_size) @ level
    centre = base.landmarks.mean(axis=0)
    target = np.array([width / 2, height * 0.53]) + offset
    placement = np.hstack([linear, (target - linear @ centre)[:, None]])  # (2, 3) photo -> canvas
    image = cv2.warpAffine(base.image, placement, (width, height), flags=cv2.INTER_CUBIC,
                           borderMode=cv2.BORDER_REFLECT_101).astype(np.float32)
    landmarks = affine_points(placement, base.landmarks.astype(np.float32)).astype(np.float64)

    # Identity warp of the face geometry, as a backward map (result(q) = image(q - g(q))); a landmark p moves
    # to the q with q - g(q) = p, found by fixed-point iteration on the 68 points.
    field = _identity_warp(landmarks, shape, face_size, cfg, rng)
    image = remap(image, pixel_grid(shape) - field, cv2.INTER_CUBIC)  # appearance only: the sharper kernel
    moved = landmarks.copy()
    for _ in range(100):
        moved = landmarks + sample_field(field, moved.astype(np.float32)).astype(np.float64)
    landmarks = moved

    # Skin tone, gamma, contrast, saturation, brightness.
    gains = 1.0 + rng.uniform(-cfg.channel_gain, cfg.channel_gain, size=3)
    gamma = float(rng.uniform(*cfg.gamma))
    contrast = float(rng.uniform(*cfg.contrast))
    brightness = float(rng.uniform(-cfg.brightness, cfg.brightness))
    desaturate = float(rng.uniform(*cfg.desaturate))
    image = 255.0 * (np.clip(image, 0, 255) / 255.0) ** gamma
    grey = image.mean(axis=-1, keepdims=True)
    image = grey + (1 - desaturate) * (image - grey)
    image = image * gains.astype(np.float32)
    image = (image - image.mean()) * contrast + image.mean() + brightness

    # Backdrop: blend everything outside the head toward a random colour gradient.
    head = _head_ellipse(landmarks, shape)[..., None]
    corner = rng.uniform(40, 230, size=(2, 3)).astype(np.float32)
    ramp = np.linspace(0, 1, width, dtype=np.float32)[None, :, None] * 0.5 + \
        np.linspace(0, 1, height, dtype=np.float32)[:, None, None] * 0.5
    backdrop = corner[0] * (1 - ramp) + corner[1] * ramp
    blend = float(rng.uniform(*cfg.background))
    image = head * image + (1 - head) * ((1 - blend) * image + blend * backdrop)

    # Fine skin texture (band-limited noise, moves with the face because it is part of the neutral image).
    texture = rng.standard_normal(shape, dtype=np.float32)
    texture = cv2.GaussianBlur(texture, (0, 0), 1.0)
    texture *= np.float32(cfg.texture / max(float(texture.std()), 1e-6))
    image = np.clip(image + texture[..., None], 0, 255).astype(np.float32)

    params = {
        "base_face": base.name, "face_size_px": face_size, "roll_deg": roll, "offset_px": offset.tolist(),
        "stretch": stretch.tolist(), "channel_gains": gains.tolist(), "gamma": gamma, "contrast": contrast,
        "brightness": brightness, "desaturate": desaturate, "background_blend": blend,
    }
    return Subject(name=name, base=base.name, image=image, landmarks=landmarks, face_size=face_frame(landmarks)[2],
                   params=params)

