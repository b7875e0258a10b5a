"""MDMO: main directional mean optical flow per facial ROI (Liu et al., IEEE TAC 7(4) 2016).

Per region of interest: the flow vectors' orientations are binned (``bins`` sectors, as in HOOF), the bin holding
the most vectors is the main direction, and the ROI's feature is the mean of the vectors in that bin as
(magnitude, angle); magnitudes are divided by the largest over the clip's ROIs (the paper's normalisation), so
the feature is 36 x 2 = 72 numbers, ``[rho_1, theta_1, rho_2, theta_2, ...]``, theta in radians in image
coordinates (x right, y down).

How this approximates the paper:

- **ROIs.** The paper's 36 ROIs are polygons on a 66-point landmark model, drawn from FACS action units (its
  Fig. 3). Here they are 36 squares (18 mirrored pairs) centred on anchors defined from the stored 68 dlib
  landmarks at the same action-unit places: inner / middle / outer brow, two forehead patches above the brow,
  the glabella, the outer eye corner, the lower eyelid, the side of the nose bridge, the nose wing, upper and lower
  cheek, the nasolabial fold, the mouth corner and beside it, upper and lower lip, the chin (:data:`ROIS`). Each
  square's side is ``roi_size`` inter-ocular distances (eye centre to eye centre), so regions scale with the
  face; they may overlap slightly, and the eyes themselves are left out, as in the paper.
- **Frames.** MDMO computes the feature for every frame's flow and averages over the clip (in Cartesian form,
  then back to polar). Only the stored onset -> apex flow is used here: one flow field, so the average is that
  field's feature. The paper's optical-flow-driven frame alignment is replaced by the pipeline's alignment fitted
  on the onset.
- The mean vector is the Cartesian mean of the main bin's vectors, then converted to (magnitude, angle).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, NamedTuple

import numpy as np

from mer_ray.data.features import FeatureSet
from mer_ray.infra.validation import setting
from mer_ray.methods._common import DescriptorConfig
from mer_ray.methods.hoof import orientation_bins


class Roi(NamedTuple):
    """An ROI on the image's left half (the subject's right); its mirror image is the other ROI of the pair.

    ``landmarks``: 0-based dlib indices whose mean is the anchor; ``dx`` / ``dy``: offset from it in inter-ocular
    distances, ``dx`` away from the face's midline, ``dy`` downward; ``action_units``: what moves there.
    """

    name: str
    landmarks: tuple[int, ...]
    dx: float
    dy: float
    action_units: str


ROIS: tuple[Roi, ...] = (
    Roi("inner brow", (21,), 0.0, -0.05, "AU1, AU4"),
    Roi("middle brow", (19,), 0.0, -0.05, "AU1, AU2"),
    Roi("outer brow", (17,), 0.05, -0.05, "AU2"),
    Roi("forehead above the inner brow", (20,), 0.0, -0.3, "AU1"),
    Roi("forehead above the outer brow", (18,), 0.0, -0.3, "AU2"),
    Roi("glabella", (21, 27), 0.0, 0.0, "AU4"),
    Roi("outer eye corner", (36,), 0.22, 0.0, "AU6"),
    Roi("lower eyelid", (40, 41), 0.0, 0.2, "AU6, AU7"),
    Roi("side of the nose bridge", (39, 28), 0.0, 0.0, "AU9"),
    Roi("nose wing", (31,), 0.0, -0.1, "AU9, AU10"),
    Roi("upper cheek", (1, 41), 0.0, 0.1, "AU6"),
    Roi("lower cheek", (2, 31), 0.0, -0.1, "AU6, AU12"),
    Roi("nasolabial fold", (31, 48), 0.05, -0.05, "AU10, AU11"),
    Roi("mouth corner", (48,), 0.0, 0.0, "AU12, AU15"),
    Roi("beside the mouth corner", (48,), 0.3, 0.0, "AU12, AU14"),
    Roi("upper lip", (49, 50), 0.0, -0.05, "AU10"),
    Roi("lower lip", (58, 59), 0.0, 0.05, "AU16"),
    Roi("chin", (7, 58), 0.0, 0.0, "AU17"),
)
N_ROIS = 2 * len(ROIS)  # 36: ROI 2k is ROIS[k] on the image's left, 2k + 1 its mirror image


def _mirror_68() -> np.ndarray:
    """(68,) the left-right mirror of each dlib landmark (iBUG 300-W numbering)."""
    pairs = [(i, 16 - i) for i in range(8)]  # jaw
    pairs += [(17 + i, 26 - i) for i in range(5)]  # brows
    pairs += [(31, 35), (32, 34)]  # nostrils
    pairs += [(36, 45), (37, 44), (38, 43), (39, 42), (40, 47), (41, 46)]  # eyes
    pairs += [(48, 54), (49, 53), (50, 52), (55, 59), (56, 58)]  # outer lips
    pairs += [(60, 64), (61, 63), (65, 67)]  # inner lips
    mirror = np.arange(68)
    for a, b in pairs:
        mirror[a], mirror[b] = b, a
    return mirror


MIRROR = _mirror_68()


@dataclass(frozen=True)
class MdmoConfig(DescriptorConfig):
    """MDMO + a linear classifier.

    Attributes:
        bins: orientation bins of the main-direction vote (8, as in the paper).
        roi_size: side of each square ROI in inter-ocular distances (0.25: about 20 px of a 224-px face).
    """

    NAME: ClassVar[str] = "mdmo"

    method: str = setting("mdmo", choices=("mdmo",))
    bins: int = setting(8, ge=2)
    roi_size: float = setting(0.25, gt=0, le=2)  # inter-ocular distances


def _anchor_weights() -> tuple[np.ndarray, np.ndarray]:
    """``(weights (36, 68), offsets (36, 2))``: anchor = weights @ landmarks + offsets * inter-ocular distance."""
    weights = np.zeros((N_ROIS, 68))
    offsets = np.zeros((N_ROIS, 2))
    for k, roi in enumerate(ROIS):
        for side, (index, sign) in enumerate(((list(roi.landmarks), -1.0), (list(MIRROR[list(roi.landmarks)]), 1.0))):
            weights[2 * k + side, index] = 1.0 / len(index)
            offsets[2 * k + side] = (sign * roi.dx, roi.dy)
    return weights, offsets


def roi_boxes(landmarks: np.ndarray, roi_size: float) -> tuple[np.ndarray, np.ndarray]:
    """``(centres (N, 36, 2) float x, y, half sides (N,) int)`` of the square ROIs from (N, 68, 2) landmarks."""
    weights, offsets = _anchor_weights()
    landmarks = landmarks.astype(np.float64)
    iod = np.linalg.norm(landmarks[:, 36:42].mean(axis=1) - landmarks[:, 42:48].mean(axis=1), axis=1)  # (N,)
    centres = np.einsum("rk,nkc->nrc", weights, landmarks) + offsets[None] * iod[:, None, None]
    half = np.maximum(1, np.rint(roi_size * iod / 2)).astype(np.int64)
    return centres, half


def mdmo(config: MdmoConfig, data: FeatureSet, rows: np.ndarray, chunk: int = 64) -> np.ndarray:
    """(len(rows), 72) float32: per ROI, the main direction's mean flow as (normalised magnitude, angle)."""
    if data.landmarks is None:
        raise ValueError("mdmo needs the stored landmarks (FeatureSet.landmarks is None)")
    size, bins = data.size, config.bins
    centres, half = roi_boxes(data.landmarks[rows], config.roi_size)
    out = np.zeros((len(rows), 2 * N_ROIS), np.float32)
    for start in range(0, len(rows), chunk):
        part = np.asarray(rows[start : start + chunk])
        b = len(part)
        h = half[start : start + b]  # (b,)
        offset = np.arange(-h.max(), h.max() + 1)  # (P,)
        within = np.abs(offset)[None, :] <= h[:, None]  # (b, P) inside each clip's own square
        cx, cy = (np.rint(centres[start : start + b, :, i]).astype(np.int64) for i in (0, 1))  # (b, 36)
        xs, ys = cx[..., None] + offset, cy[..., None] + offset  # (b, 36, P)
        ok_x = within[:, None] & (xs >= 0) & (xs < size)
        ok_y = within[:, None] & (ys >= 0) & (ys < size)
        valid = ok_y[..., :, None] & ok_x[..., None, :]  # (b, 36, P, P)
        yy, xx = np.clip(ys, 0, size - 1)[..., :, None], np.clip(xs, 0, size - 1)[..., None, :]
        clip = part[:, None, None, None]
        u = data.flow[clip, 0, yy, xx].astype(np.float64)  # (b, 36, P, P)
        v = data.flow[clip, 1, yy, xx].astype(np.float64)
        direction = orientation_bins(u, v, bins)
        vote = (np.arange(b * N_ROIS).reshape(b, N_ROIS, 1, 1) * bins + direction)[valid]
        counts = np.bincount(vote, minlength=b * N_ROIS * bins).reshape(b, N_ROIS, bins)
        main = counts.argmax(axis=-1)  # (b, 36) most vectors; ties: the lowest bin
        chosen = valid & (direction == main[..., None, None])
        n = np.maximum(chosen.sum(axis=(2, 3)), 1)
        mean_u, mean_v = (u * chosen).sum(axis=(2, 3)) / n, (v * chosen).sum(axis=(2, 3)) / n
        rho, theta = np.hypot(mean_u, mean_v), np.arctan2(mean_v, mean_u)
        top = rho.max(axis=1, keepdims=True)
        rho = np.divide(rho, top, out=np.zeros_like(rho), where=top > 0)
        out[start : start + b] = np.stack([rho, theta], axis=-1).reshape(b, -1)
    return out
