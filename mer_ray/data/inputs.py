"""Model inputs built batch by batch from the shared feature arrays (no per-trial copy of the whole set).

Everything fitted here (normalisation statistics) is fitted on TRAINING rows only.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from mer_ray.data.features import MODALITIES, FeatureSet
from preprocessing.features.shard_schema import FLOW_CHANNELS

FLOW_INPUT = ("u", "v", "strain")  # the stored magnitude is redundant with u, v
_FLOW_INDEX = [FLOW_CHANNELS.index(name) for name in FLOW_INPUT]
CHANNELS = {"flow": len(FLOW_INPUT), "apex": 1}
FLOW_NORMS = ("dataset", "clip", "minmax")
MEMORY_FORMAT = torch.channels_last  # NHWC: 1.2-1.3x faster training of these nets on CPU (max-pool, depthwise)


def in_chans(modality: str) -> int:
    if modality not in CHANNELS:
        raise ValueError(f"modality must be one of {list(MODALITIES)}; got {modality!r}")
    return CHANNELS[modality]


@dataclass
class InputBuilder:
    """Turns rows of a FeatureSet into a (B, C, size, size) float tensor.

    Args:
        data: the shared features (read-only arrays).
        modality: ``"flow"`` (u, v, strain) or ``"apex"`` (grayscale apex face).
        size: model input size; flow displacements are rescaled with the image (pixels change size).
        apply_mask: multiply by the stored eye / background mask.
        flow_norm: ``"dataset"`` (per-channel standardisation only) or ``"clip"`` (each clip's flow divided by
            its own robust peak first: u, v by the 99th percentile of the magnitude, strain by its 99th
            percentile; amplitude-invariant inputs) or ``"minmax"`` (each clip's u, v and strain maps min-max
            scaled to [0, 1], what STSTNet does before saving them as an image). Per-channel standardisation with
            training statistics follows in every case.
    """

    data: FeatureSet
    modality: str
    size: int
    apply_mask: bool = True
    flow_norm: str = "dataset"
    mean_: np.ndarray | None = None
    std_: np.ndarray | None = None
    _cache: torch.Tensor | None = field(default=None, repr=False)

    def __post_init__(self):
        in_chans(self.modality)
        if self.size < 8:
            raise ValueError(f"input size must be at least 8 pixels; got {self.size}")
        if self.flow_norm not in FLOW_NORMS:
            raise ValueError(f"flow_norm must be one of {list(FLOW_NORMS)}; got {self.flow_norm!r}")

    @property
    def cached(self) -> bool:
        """Downscaled inputs are computed once for every clip (a small copy); full-size ones batch by batch."""
        return 2 * self.size <= self.data.size

    def _compute(self, rows: np.ndarray) -> torch.Tensor:
        if self.modality == "flow":
            x = torch.from_numpy(np.array(self.data.flow[np.ix_(rows, _FLOW_INDEX)], dtype=np.float32))  # (B, 3, S, S)
        else:
            x = torch.from_numpy(self.data.apex_face[rows][:, None].astype(np.float32) / 255.0)  # (B, 1, S, S)
        if self.apply_mask:
            x = x * torch.from_numpy(self.data.mask[rows][:, None].astype(np.float32))
        source = x.shape[-1]
        if source != self.size:
            x = F.interpolate(x, size=(self.size, self.size), mode="area" if self.size < source else "bilinear")
            if self.modality == "flow":
                x[:, :2] *= self.size / source  # displacements in pixels scale with the image; strain does not
        if self.modality == "flow" and self.flow_norm == "clip":
            x = normalise_clips(x)
        elif self.modality == "flow" and self.flow_norm == "minmax":
            low = x.amin(dim=(2, 3), keepdim=True)
            x = (x - low) / (x.amax(dim=(2, 3), keepdim=True) - low).clamp_min(1e-6)
        return x

    def raw(self, rows: np.ndarray, flip: np.ndarray | None = None) -> torch.Tensor:
        """Un-normalised inputs of ``rows``; ``flip[i]`` mirrors row i horizontally (u is negated for flow)."""
        rows = np.asarray(rows)
        if self.cached:
            if self._cache is None:
                every = np.arange(len(self.data))
                self._cache = torch.cat([self._compute(every[i : i + 64]) for i in range(0, len(every), 64)])
            x = self._cache[torch.from_numpy(rows.astype(np.int64))]
        else:
            x = self._compute(rows)
        if flip is not None and np.any(flip):
            flip_t = torch.from_numpy(np.asarray(flip, dtype=bool))
            mirrored = torch.flip(x[flip_t], dims=[-1])
            if self.modality == "flow":
                mirrored[:, 0] = -mirrored[:, 0]  # a mirrored flow field points the other way horizontally
            x[flip_t] = mirrored
        return x

    def fit(self, rows: np.ndarray, chunk: int = 64) -> InputBuilder:
        """Per-channel mean and std over ``rows`` (training rows only), streamed in chunks."""
        total = None
        total_sq = None
        count = 0
        for start in range(0, len(rows), chunk):
            x = self.raw(rows[start : start + chunk]).double()
            s = x.sum(dim=(0, 2, 3))
            sq = (x * x).sum(dim=(0, 2, 3))
            total = s if total is None else total + s
            total_sq = sq if total_sq is None else total_sq + sq
            count += x.shape[0] * x.shape[2] * x.shape[3]
        if total is None:
            raise ValueError("cannot fit input statistics on zero training rows")
        mean = total / count
        std = torch.sqrt(torch.clamp(total_sq / count - mean * mean, min=1e-12))
        self.mean_ = mean.float().numpy()
        self.std_ = np.maximum(std.float().numpy(), 1e-6)
        return self

    def with_statistics(self, mean: np.ndarray, std: np.ndarray) -> InputBuilder:
        """Use stored training statistics (a model bundle's) instead of :meth:`fit`."""
        self.mean_, self.std_ = np.asarray(mean, np.float32), np.asarray(std, np.float32)
        return self

    def __call__(self, rows: np.ndarray, flip: np.ndarray | None = None, augment=None,
                 generator: torch.Generator | None = None) -> torch.Tensor:
        """Normalised inputs of ``rows``; ``augment`` (a ``FlowAugment``) transforms the raw inputs first."""
        if self.mean_ is None:
            raise RuntimeError("InputBuilder.fit(training_rows) must run before building inputs")
        x = self.raw(rows, flip)
        if augment is not None:
            x = augment(x, flow=self.modality == "flow", generator=generator)
        mean = torch.from_numpy(self.mean_)[None, :, None, None]
        std = torch.from_numpy(self.std_)[None, :, None, None]
        return (x - mean) / std

    def batch(self, rows: np.ndarray, device: str, flip: np.ndarray | None = None, augment=None,
              generator: torch.Generator | None = None) -> torch.Tensor:
        """Normalised inputs of ``rows`` on ``device`` in the training memory format."""
        return self(rows, flip, augment, generator).to(device, memory_format=MEMORY_FORMAT)


def normalise_clips(x: torch.Tensor, quantile: float = 0.99, eps: float = 1e-3) -> torch.Tensor:
    """(B, 3, H, W) flow [u, v, strain] with each clip divided by its robust peak (magnitude, strain)."""
    flat = x.flatten(2)  # (B, 3, HW)
    peak = torch.quantile(torch.hypot(flat[:, 0], flat[:, 1]), quantile, dim=1).clamp_min(eps)  # (B,)
    strain_peak = torch.quantile(flat[:, 2].abs(), quantile, dim=1).clamp_min(eps)
    x = x.clone()
    x[:, :2] /= peak[:, None, None, None]
    x[:, 2] /= strain_peak[:, None, None]
    return x


def balanced_epoch(labels: np.ndarray, rng: np.random.Generator, num_classes: int = 3) -> np.ndarray:
    """Indices into ``labels`` for one epoch with the same number of items per present class.

    The epoch keeps the size of the training set; each class gets ``len // classes`` items, drawn without
    replacement while the class has enough items and cycling through reshuffled copies otherwise.
    """
    classes = [c for c in range(num_classes) if np.any(labels == c)]
    if not classes:
        raise ValueError("no labelled training items")
    per_class = max(1, len(labels) // len(classes))
    picks = []
    for c in classes:
        members = np.flatnonzero(labels == c)
        reps = -(-per_class // len(members))
        pool = np.concatenate([rng.permutation(members) for _ in range(reps)])
        picks.append(pool[:per_class])
    return rng.permutation(np.concatenate(picks))
