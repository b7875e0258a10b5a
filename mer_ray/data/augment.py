"""Training-time augmentation of flow fields (and faces) that respects what a flow field is.

A flow field moves with the image: rotating the face by theta rotates its displacement vectors by theta, and
scaling it by s scales them by s, while optical strain (a dimensionless gradient) is unchanged by both. A random
magnitude factor models a weaker or stronger expression. A mirror (``flip``) turns the face left-right and negates u;
it is drawn for items of every class alike, so it adds no class cue (``flip_expand``, the paper's mirrored copies of
positive and surprise clips only, does). Everything runs on whole batches with torch ops, on the
batch's device, seeded by the caller's generator (so a fold reruns identically).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class FlowAugment:
    """Random similarity transform + magnitude jitter per item.

    Attributes:
        rotate_deg: rotation drawn uniformly in [-rotate_deg, rotate_deg].
        scale: relative scale drawn uniformly in [1 - scale, 1 + scale].
        translate: shift drawn uniformly in [-translate, translate] of the side, per axis.
        magnitude: displacement (and strain) factor drawn uniformly in [1 - magnitude, 1 + magnitude].
        flip: probability of a left-right mirror of an item (any class).
    """

    rotate_deg: float = 0.0
    scale: float = 0.0
    translate: float = 0.0
    magnitude: float = 0.0
    flip: float = 0.0

    def __post_init__(self):
        if not 0 <= self.flip <= 1:
            raise ValueError(f"augmentation flip is a probability in [0, 1]; got {self.flip!r}")
        for name in ("rotate_deg", "scale", "translate", "magnitude"):
            value = getattr(self, name)
            if value < 0 or (name != "rotate_deg" and value >= 1):
                raise ValueError(f"augmentation {name} must be in [0, 1) (rotate_deg: >= 0); got {value!r}")

    @property
    def active(self) -> bool:
        return any((self.rotate_deg, self.scale, self.translate, self.magnitude, self.flip))

    def __call__(self, x: torch.Tensor, *, flow: bool, generator: torch.Generator | None = None) -> torch.Tensor:
        """(B, C, H, W) raw inputs -> augmented copy; ``flow``: channels are [u, v, strain] in pixels."""
        if not self.active:
            return x
        b = x.shape[0]
        if self.flip:  # no draw when off: configurations without it train exactly as before
            mirror = (torch.rand(b, generator=generator) < self.flip).to(x.device)
            mirrored = torch.flip(x, dims=[-1])
            if flow:
                mirrored[:, 0] = -mirrored[:, 0]  # a mirrored flow field points the other way horizontally
            x = torch.where(mirror[:, None, None, None], mirrored, x)

        def uniform(half_width: float, size=(b,)) -> torch.Tensor:
            return (torch.rand(size, generator=generator) * 2 - 1) * half_width

        theta = uniform(math.radians(self.rotate_deg))
        s = 1 + uniform(self.scale)
        shift = uniform(self.translate, (b, 2)) * 2  # normalised coordinates span 2
        cos, sin = torch.cos(theta), torch.sin(theta)
        # affine_grid maps OUTPUT to INPUT coordinates: the inverse of "rotate by theta, scale by s, shift"
        inv = torch.stack([torch.stack([cos, sin], -1), torch.stack([-sin, cos], -1)], -2) / s[:, None, None]
        offset = -(inv @ shift[:, :, None])[:, :, 0]
        matrix = torch.cat([inv, offset[:, :, None]], dim=2).to(x.dtype)  # (B, 2, 3)
        grid = F.affine_grid(matrix.to(x.device), list(x.shape), align_corners=False)
        out = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        if flow:
            u, v = out[:, 0].clone(), out[:, 1].clone()
            c, sn, sc = (t.to(x.device, x.dtype)[:, None, None] for t in (cos, sin, s))
            out[:, 0] = sc * (c * u - sn * v)  # the vectors turn and stretch with the image
            out[:, 1] = sc * (sn * u + c * v)
            factor = (1 + uniform(self.magnitude)).to(x.device, x.dtype)[:, None, None, None]
            out = out * factor
        return out
