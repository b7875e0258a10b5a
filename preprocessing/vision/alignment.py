"""Face alignment (paper, Pre-processing and Fig. 2 b-d): dlib detection + 68 landmarks on the onset frame,
rotation about the eye midpoint so the eye line is horizontal (paper Eq. 1), square crop, resize.

The transform is fitted ONCE per clip (on the onset frame) and the same 2x3 affine matrix is applied to every
other frame of the clip, so landmark jitter between frames cannot turn into optical flow. Rotation, crop and
resize are composed into that single matrix: each frame is resampled once.
"""

from __future__ import annotations

import importlib.util
import math
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import dlib
import numpy as np

# 68-point scheme (iBUG 300-W): 36-41 = eye on the image's left (subject's right), 42-47 = eye on the image's right.
LEFT_EYE = slice(36, 42)
RIGHT_EYE = slice(42, 48)
DETECTORS = ("hog", "cnn")


def model_path(name: str) -> Path:
    """Path of a model file shipped in the ``face-recognition-models`` wheel, e.g. the 68-point predictor.

    The package is located without importing it: its ``__init__`` needs ``pkg_resources``.
    """
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("face_recognition_models is not installed; `pip install face-recognition-models`")
    path = Path(spec.submodule_search_locations[0]) / "models" / name
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing from the face-recognition-models wheel; reinstall it")
    return path


class AlignmentError(ValueError):
    """The onset frame cannot be aligned; ``stage`` is ``"detect"`` or ``"landmarks"``."""

    def __init__(self, stage: str, reason: str):
        super().__init__(reason)
        self.stage = stage
        self.reason = reason

    def __reduce__(self):  # picklable across Ray workers despite the custom __init__
        return type(self), (self.stage, self.reason)


@dataclass(frozen=True)
class AlignConfig:
    """How faces are found, rotated and cropped."""

    size: int = 224  # output side in pixels (paper: 224x224)
    margin: float = 0.15  # extra border on each side, as a fraction of the landmarks' extent (keeps the brows' rise)
    upsample: int = 1  # largest dlib upsampling tried; 0 is tried first (faster), larger finds smaller faces
    detector: str = "hog"  # "hog" = dlib.get_frontal_face_detector(); "cnn" = MMOD CNN (slower on CPU)
    threshold: float = 0.0  # detection score cut-off (dlib's own default); raise it to drop weak false detections
    predictor: str = ""  # path of a 68-point shape predictor; "" = the one in face-recognition-models
    border: str = "replicate"  # how pixels outside the raw frame are filled: "replicate" or "constant" (black)

    def __post_init__(self) -> None:
        if self.size < 32:
            raise ValueError(f"AlignConfig.size={self.size}: expected at least 32 pixels")
        if not 0 <= self.margin <= 1:
            raise ValueError(f"AlignConfig.margin={self.margin}: expected a fraction in [0, 1]")
        if self.upsample < 0:
            raise ValueError(f"AlignConfig.upsample={self.upsample}: expected 0 or more")
        if self.detector not in DETECTORS:
            raise ValueError(f"AlignConfig.detector={self.detector!r}: expected one of {DETECTORS}")
        if self.border not in ("replicate", "constant"):
            raise ValueError(f"AlignConfig.border={self.border!r}: expected 'replicate' or 'constant'")


@dataclass
class Alignment:
    """The per-clip transform fitted on the onset frame.

    Attributes:
        matrix: (2, 3) float64 affine map from raw pixel coordinates to aligned ones.
        size: side of the aligned square.
        landmarks: (68, 2) float32 landmarks in aligned coordinates.
        raw_landmarks: (68, 2) float32 landmarks in raw coordinates.
        angle: eye-line angle of the raw face in degrees (paper Eq. 1; positive = the image-right eye is lower).
        faces_found: number of faces the detector found (the largest is used).
        face_box: chosen detection (left, top, right, bottom) in raw pixels.
    """

    matrix: np.ndarray
    size: int
    landmarks: np.ndarray
    raw_landmarks: np.ndarray
    angle: float
    faces_found: int
    face_box: tuple[int, int, int, int]
    warnings: list[str] = field(default_factory=list)


def eye_line_angle(landmarks: np.ndarray) -> float:
    """Angle (degrees) of the line from the image-left eye centre to the image-right eye centre (paper Eq. 1)."""
    left, right = landmarks[LEFT_EYE].mean(axis=0), landmarks[RIGHT_EYE].mean(axis=0)
    return math.degrees(math.atan2(right[1] - left[1], right[0] - left[0]))


def transform_points(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Apply a (2, 3) affine matrix to (N, 2) points."""
    return points @ matrix[:, :2].T + matrix[:, 2]


class FaceAligner:
    """Holds dlib's detector and 68-point predictor (loaded once; one instance per process or Ray actor)."""

    def __init__(self, config: AlignConfig | None = None):
        self.config = config or AlignConfig()
        if self.config.detector == "hog":
            self._detector = dlib.get_frontal_face_detector()
        else:
            self._detector = dlib.cnn_face_detection_model_v1(str(model_path("mmod_human_face_detector.dat")))
        predictor = (
            Path(self.config.predictor)
            if self.config.predictor
            else model_path("shape_predictor_68_face_landmarks.dat")
        )
        if not predictor.is_file():
            raise FileNotFoundError(f"AlignConfig.predictor={predictor} does not exist; give a 68-point dlib model")
        self._predictor = dlib.shape_predictor(str(predictor))

    def detect(self, gray: np.ndarray, upsample: int) -> list[dlib.rectangle]:
        """Faces in a (H, W) uint8 frame at one dlib upsampling level (scores below ``config.threshold`` dropped)."""
        if self.config.detector == "cnn":
            return [d.rect for d in self._detector(gray, upsample) if d.confidence >= self.config.threshold]
        return list(self._detector.run(gray, upsample, self.config.threshold)[0])

    def landmarks(self, gray: np.ndarray, box: dlib.rectangle) -> np.ndarray:
        """(68, 2) float32 landmarks of the face in ``box``."""
        shape = self._predictor(gray, box)
        return np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float32)

    def fit(self, onset_gray: np.ndarray) -> Alignment:
        """Fit the clip's transform on its onset frame.

        Detection runs at upsampling 0 first (fast); the next level (up to ``config.upsample``) is tried when no
        face is found or when the landmarks of the largest face fall off the image (a loose box at a coarse level
        makes the predictor extrapolate the chin; a finer level gives a tighter box).

        Args:
            onset_gray: (H, W) uint8 grayscale onset frame.

        Returns:
            The ``Alignment`` to apply to every frame of the clip.

        Raises:
            AlignmentError: stage ``"detect"`` when no face is found, ``"landmarks"`` when the landmarks fall off
                the image at every level.
        """
        if onset_gray.ndim != 2 or onset_gray.dtype != np.uint8:
            raise ValueError(
                f"FaceAligner.fit: expected a (H, W) uint8 grayscale frame, got {onset_gray.shape} {onset_gray.dtype}"
            )
        height, width = onset_gray.shape
        error = AlignmentError(
            "detect", f"no face found (dlib {self.config.detector} detector, upsampling 0..{self.config.upsample})"
        )
        for upsample in range(self.config.upsample + 1):
            faces = self.detect(onset_gray, upsample)
            if not faces:
                continue
            box = max(faces, key=lambda r: r.width() * r.height())
            raw = self.landmarks(onset_gray, box)  # (68, 2)
            outside = (raw[:, 0] < 0) | (raw[:, 0] > width - 1) | (raw[:, 1] < 0) | (raw[:, 1] > height - 1)
            if not outside.any():
                break
            error = AlignmentError(
                "landmarks",
                f"{int(outside.sum())} of 68 landmarks fall off the {width}x{height} "
                f"image (points {np.flatnonzero(outside).tolist()})",
            )
        else:
            raise error
        warnings = [f"{len(faces)} faces found, took the largest"] if len(faces) > 1 else []
        angle = eye_line_angle(raw)
        matrix = self._matrix(raw, angle)
        return Alignment(
            matrix=matrix,
            size=self.config.size,
            landmarks=transform_points(matrix, raw).astype(np.float32),
            raw_landmarks=raw,
            angle=angle,
            faces_found=len(faces),
            face_box=(box.left(), box.top(), box.right(), box.bottom()),
            warnings=warnings,
        )

    def _matrix(self, raw: np.ndarray, angle: float) -> np.ndarray:
        """Rotation about the eye midpoint by ``angle`` then a square crop around the landmarks, resized."""
        centre = (raw[LEFT_EYE].mean(axis=0) + raw[RIGHT_EYE].mean(axis=0)) / 2
        eyes_x, eyes_y = float(centre[0]), float(centre[1])
        rotation = cv2.getRotationMatrix2D((eyes_x, eyes_y), angle, 1.0)  # (2, 3): eye line -> horizontal
        rotated = transform_points(rotation, raw)
        low, high = rotated.min(axis=0), rotated.max(axis=0)
        # Square centred horizontally on the eye midpoint (the face's symmetry axis), vertically on the landmarks.
        half_width = max(eyes_x - low[0], high[0] - eyes_x)
        half = max(half_width, (high[1] - low[1]) / 2) * (1 + 2 * self.config.margin)
        centre_y = (low[1] + high[1]) / 2
        scale = self.config.size / (2 * half)
        crop = np.array([[scale, 0, -(eyes_x - half) * scale], [0, scale, -(centre_y - half) * scale]])
        return crop @ np.vstack([rotation, [0, 0, 1]])  # (2, 3) raw -> aligned

    def apply(self, alignment: Alignment, gray: np.ndarray) -> np.ndarray:
        """Warp a (H, W) uint8 frame of the clip with the clip's transform: (size, size) uint8."""
        if gray.ndim != 2:
            raise ValueError(f"FaceAligner.apply: expected a (H, W) grayscale frame, got shape {gray.shape}")
        border = cv2.BORDER_REPLICATE if self.config.border == "replicate" else cv2.BORDER_CONSTANT
        size = alignment.size
        return cv2.warpAffine(gray, alignment.matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=border)
