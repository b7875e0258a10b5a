"""Real face images and exact synthetic motion for the alignment / mask / apex / flow / clip tests (no mocks)."""

from __future__ import annotations

import functools
from pathlib import Path

import cv2
import matplotlib.cbook
import numpy as np
import skimage.data

from preprocessing.annotations.sample import Sample
from preprocessing.vision.alignment import FaceAligner


@functools.cache
def aligner() -> FaceAligner:
    """One FaceAligner (real dlib detector + 68-point predictor) shared by the test modules of a process."""
    return FaceAligner()


@functools.cache
def _astronaut() -> np.ndarray:
    return cv2.cvtColor(skimage.data.astronaut(), cv2.COLOR_RGB2GRAY)


def astronaut() -> np.ndarray:
    """(512, 512) uint8 real frontal face (eye line tilted ~3 degrees)."""
    return _astronaut().copy()


def grace_hopper() -> np.ndarray:
    """(600, 512) uint8 real frontal face (matplotlib sample data)."""
    with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as file:
        return cv2.imdecode(np.frombuffer(file.read(), np.uint8), cv2.IMREAD_GRAYSCALE)


def rotate(image: np.ndarray, degrees: float) -> np.ndarray:
    """Rotate about the image centre (counter-clockwise on screen for positive degrees), same size."""
    height, width = image.shape
    matrix = cv2.getRotationMatrix2D((width / 2, height / 2), degrees, 1.0)
    return cv2.warpAffine(image, matrix, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


@functools.cache
def _aligned_astronaut() -> tuple[np.ndarray, np.ndarray]:
    image = astronaut()
    alignment = aligner().fit(image)
    return aligner().apply(alignment, image), alignment.landmarks


def aligned_astronaut() -> tuple[np.ndarray, np.ndarray]:
    """(224, 224) uint8 aligned face and its (68, 2) aligned landmarks."""
    face, landmarks = _aligned_astronaut()
    return face.copy(), landmarks.copy()


def bump_field(shape: tuple[int, int], centres: np.ndarray, vectors: np.ndarray, sigma: float = 14.0) -> np.ndarray:
    """Smooth localised displacement: a Gaussian bump of displacement ``vectors[k]`` around ``centres[k]``.

    Returns:
        (H, W, 2) float32 field (u, v) in pixels.
    """
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]].astype(np.float32)
    field = np.zeros((*shape, 2), np.float32)
    for (cx, cy), (du, dv) in zip(centres, vectors):
        weight = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * sigma**2))
        field[..., 0] += du * weight
        field[..., 1] += dv * weight
    return field


def warp_exact(image: np.ndarray, field: np.ndarray, iterations: int = 30) -> np.ndarray:
    """The frame ``J`` with ``J(x + field(x)) = image(x)``: TV-L1 flow from ``image`` to ``J`` is ``field``.

    The inverse map x(y) solving y = x + field(x) is found by fixed-point iteration (converges for smooth fields
    whose gradient is well below 1), then ``image`` is sampled there (bicubic).

    Returns:
        float32 frame of ``image``'s shape (not rounded).
    """
    field = np.asarray(field, dtype=np.float32)
    yy, xx = np.mgrid[0 : image.shape[0], 0 : image.shape[1]].astype(np.float32)
    x, y = xx.copy(), yy.copy()
    for _ in range(iterations):
        at = cv2.remap(field, x, y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)  # field sampled at x(y)
        x, y = xx - at[..., 0], yy - at[..., 1]
    return cv2.remap(image.astype(np.float32), x, y, cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)


def to_uint8(image: np.ndarray) -> np.ndarray:
    return np.clip(np.round(image), 0, 255).astype(np.uint8)


def expression_field(landmarks: np.ndarray, shape: tuple[int, int], amplitude: float) -> np.ndarray:
    """A smile-and-brow-raise-like field: mouth corners out and up, brows up, ``amplitude`` pixels at the peaks."""
    centres = landmarks[[48, 54, 19, 24]]
    vectors = amplitude * np.array([[-0.6, -0.8], [0.6, -0.8], [0.0, -1.0], [0.0, -1.0]])
    return bump_field(shape, centres, vectors)


def write_clip(
    folder: Path,
    frames: list[np.ndarray],
    *,
    onset: int = 1,
    apex: int | None = None,
    name: str = "EP01_01",
    ext: str = ".png",
) -> Sample:
    """Write frames as ``img<N><ext>`` (N = onset, onset+1, ...) in a CASME II-like folder and describe them."""
    folder.mkdir(parents=True, exist_ok=True)
    numbers = tuple(range(onset, onset + len(frames)))
    paths = []
    for number, frame in zip(numbers, frames):
        path = folder / f"img{number}{ext}"
        if not cv2.imwrite(str(path), frame):
            raise OSError(f"could not write {path}")
        paths.append(str(path))
    return Sample(
        dataset="casme2",
        subject="casme2/sub01",
        clip=name,
        emotion="happiness",
        onset=onset,
        apex=apex,
        offset=numbers[-1],
        frames=tuple(paths),
        frame_numbers=numbers,
    )
