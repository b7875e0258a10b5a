"""LBP-TOP: local binary patterns on three orthogonal planes of the aligned frame sequence (Zhao & Pietikäinen,
TPAMI 2007; the MER baseline of CASME II, SMIC and MEGC 2019).

The stored sequence (``FeatureSet.sequence``: T frames sampled over onset..offset, aligned like the apex face,
s x s uint8; ``PreprocessConfig.sequence``) is a volume (T, y, x). At every voxel at least ``radius`` from the
volume's faces, three uniform LBP codes are taken: on the XY plane (the frame), the XT plane (a row over time)
and the YT plane (a column over time), each with ``points`` neighbours on a circle of ``radius`` (bilinear
interpolation) and scikit-image's non-rotation-invariant uniform mapping (``nri_uniform``: P (P - 1) + 3 = 59
patterns for P = 8). The (y, x) extent is split into ``grid`` x ``grid`` blocks; each block has one normalised
59-bin histogram per plane, concatenated ``[block][XY, XT, YT][pattern]``: grid^2 x 3 x 59 numbers.

The codes come from ``skimage.feature.local_binary_pattern`` run once per plane on all planes of a chunk of
clips stacked into one image; the rows and columns that see a neighbouring slice's pixels are the ones within
``radius`` of a slice's border, and those are never counted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from mer_ray.data.features import FeatureSet
from mer_ray.infra.validation import setting
from mer_ray.methods._common import DescriptorConfig, block_grid, normalise_rows

PLANES = ("xy", "xt", "yt")


@dataclass(frozen=True)
class LbpTopConfig(DescriptorConfig):
    """LBP-TOP + a linear classifier.

    Attributes:
        grid: blocks per side of the frame (5: the MEGC 2019 LBP-TOP baseline's 5 x 5 blocks).
        points: neighbours P on each plane's circle (8: 59 uniform patterns).
        radius: radius R of the circle in pixels and frames (1).
        row_space: on by default: 4425 dimensions for ~430 training clips (``DescriptorConfig``).
    """

    NAME: ClassVar[str] = "lbptop"

    method: str = setting("lbptop", choices=("lbptop",))
    grid: int = setting(5, ge=1)
    points: int = setting(8, ge=4)
    radius: int = setting(1, ge=1)
    row_space: bool = True

    @property
    def patterns(self) -> int:
        """Histogram bins of one plane: the ``nri_uniform`` patterns of P neighbours."""
        return self.points * (self.points - 1) + 3


def _codes(images: np.ndarray, config: LbpTopConfig) -> np.ndarray:
    """int64 LBP codes of a stack of equal-width 2-D slices (..., rows, cols), computed as one tall image."""
    from skimage.feature import local_binary_pattern

    shape = images.shape
    codes = local_binary_pattern(np.ascontiguousarray(images).reshape(-1, shape[-1]), config.points,
                                 config.radius, method="nri_uniform")
    return codes.astype(np.int64).reshape(shape)


def lbp_top(config: LbpTopConfig, data: FeatureSet, rows: np.ndarray, chunk: int = 32) -> np.ndarray:
    """(len(rows), grid * grid * 3 * patterns) float32: per block, the XY, XT and YT pattern histograms."""
    if data.sequence is None:
        raise ValueError("lbptop needs the stored frame sequences (FeatureSet.sequence is None)")
    frames, side = data.sequence.shape[1], data.sequence.shape[-1]
    r, grid, k = config.radius, config.grid, config.patterns
    if frames < 2 * r + 1 or side < 2 * r + grid:
        raise ValueError(f"lbptop with radius {r} and a {grid}x{grid} grid needs sequences of at least {2 * r + 1} "
                         f"frames of {2 * r + grid} px; the stored ones are {frames} frames of {side} px")
    inner = slice(r, side - r)  # voxels whose neighbours all lie inside their own slice
    block = block_grid(side - 2 * r, grid)  # (inner * inner,) block of each inner (y, x)
    out = np.zeros((len(rows), grid * grid * len(PLANES) * k), np.float32)
    for start in range(0, len(rows), chunk):
        part = np.asarray(rows[start : start + chunk])
        b = len(part)
        volume = data.sequence[part]  # (b, T, y, x) uint8
        planes = (
            _codes(volume, config),  # XY: each frame
            _codes(volume.transpose(0, 2, 1, 3), config).transpose(0, 2, 1, 3),  # XT: each row over time
            _codes(volume.transpose(0, 3, 1, 2), config).transpose(0, 2, 3, 1),  # YT: each column over time
        )  # each (b, T, y, x)
        hist = np.zeros((b, len(PLANES), grid * grid, k))
        for p, codes in enumerate(planes):
            codes = codes[:, r : frames - r, inner, inner].reshape(b, frames - 2 * r, -1)  # (b, T', inner^2)
            index = (np.arange(b)[:, None, None] * grid * grid + block[None, None, :]) * k + codes
            hist[:, p] = np.bincount(index.ravel(), minlength=b * grid * grid * k).reshape(b, grid * grid, k)
        hist = normalise_rows(hist).transpose(0, 2, 1, 3)  # (b, blocks, planes, patterns)
        out[start : start + b] = hist.reshape(b, -1)
    return out
