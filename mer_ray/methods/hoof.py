"""HOOF: histograms of oriented optical flow over a block grid (Chaudhry et al. 2009, the MER baseline form).

The onset -> apex (u, v) flow (masked: eye and background motion removed, like the probe) is split into
``grid`` x ``grid`` blocks; in each block every pixel votes for the orientation bin of its flow vector with its
magnitude; each block's histogram is normalised to sum 1 (a block without motion stays zero). Bins are
``bins`` equal sectors centred on the directions ``k * 360 / bins`` degrees, measured in image coordinates
(x right, y down): with 8 bins, bin 0 is rightward, bin 2 downward, bin 4 leftward, bin 6 upward.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from mer_ray.data.features import FeatureSet
from mer_ray.infra.validation import setting
from mer_ray.methods._common import DescriptorConfig, block_grid, normalise_rows


@dataclass(frozen=True)
class HoofConfig(DescriptorConfig):
    """HOOF + a linear classifier.

    Attributes:
        grid: blocks per side (8: 28-px blocks of a 224-px face, the scale of a facial region).
        bins: orientation bins (8: 45-degree sectors, the usual HOOF / Bi-WOOF choice).
        apply_mask: multiply the flow by the stored eye / background mask first.
    """

    NAME: ClassVar[str] = "hoof"

    method: str = setting("hoof", choices=("hoof",))
    grid: int = setting(8, ge=1)
    bins: int = setting(8, ge=2)
    apply_mask: bool = True


def orientation_bins(u: np.ndarray, v: np.ndarray, bins: int) -> np.ndarray:
    """int64 bin of each flow vector: ``bins`` sectors centred on ``k * 2 pi / bins`` (bin 0 = rightward)."""
    width = 2 * np.pi / bins
    return np.floor((np.arctan2(v, u) + width / 2) / width).astype(np.int64) % bins


def hoof(config: HoofConfig, data: FeatureSet, rows: np.ndarray, chunk: int = 32) -> np.ndarray:
    """(len(rows), grid * grid * bins) float32: per block (row-major), its normalised orientation histogram."""
    size, grid, bins = data.size, config.grid, config.bins
    block = block_grid(size, grid)  # (S * S,) block of every pixel
    out = np.zeros((len(rows), grid * grid * bins), np.float32)
    for start in range(0, len(rows), chunk):
        part = rows[start : start + chunk]
        u = data.flow[part, 0].astype(np.float32)  # (B, S, S)
        v = data.flow[part, 1].astype(np.float32)
        if config.apply_mask:
            mask = data.mask[part].astype(np.float32)
            u, v = u * mask, v * mask
        weight = np.hypot(u, v).reshape(len(part), -1)  # (B, S*S) magnitude votes
        index = (np.arange(len(part))[:, None] * grid * grid + block[None, :]) * bins
        index = index + orientation_bins(u, v, bins).reshape(len(part), -1)
        hist = np.bincount(index.ravel(), weights=weight.ravel(), minlength=len(part) * grid * grid * bins)
        out[start : start + len(part)] = normalise_rows(hist.reshape(len(part), grid * grid, bins)).reshape(
            len(part), -1)
    return out
