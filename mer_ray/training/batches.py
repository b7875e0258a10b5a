"""What a phase trains on: its training items (mirrored copies added, :func:`training_items`) and their batches,
normalised and augmented on the device or built per batch (:class:`BatchSource`)."""

from __future__ import annotations

import numpy as np
import torch

from mer_ray.data.inputs import MEMORY_FORMAT, InputBuilder


def training_items(labels: np.ndarray, rows: np.ndarray, flip_expand: bool) -> tuple[np.ndarray, np.ndarray]:
    """(rows, flip flags): every training row, plus mirrored copies of positive and surprise rows."""
    flips = np.zeros(len(rows), dtype=bool)
    if flip_expand:
        extra = rows[np.isin(labels[rows], (1, 2))]
        rows = np.concatenate([rows, extra])
        flips = np.concatenate([flips, np.ones(len(extra), dtype=bool)])
    return rows, flips



class BatchSource:
    """Training batches of one phase.

    Small inputs (the builder's downscaled cache) and any accelerator: every training item, flips applied, is built
    ONCE on the device and batches are indexed there (augmentation runs on the device too). Full-size inputs on
    a CPU: built batch by batch from the shared arrays (no per-trial copy of the data set). Both give the same
    values, hence the same training, on a CPU.
    """

    def __init__(self, builder: InputBuilder, rows: np.ndarray, flips: np.ndarray, labels: np.ndarray, device: str):
        self.builder, self.rows, self.flips, self.device = builder, rows, flips, device
        self.resident = builder.cached or torch.device(device).type != "cpu"
        self.labels = torch.from_numpy(labels).to(device)
        if self.resident:
            self.raw = builder.raw(rows, flips).to(device)  # (N, C, S, S) un-normalised, flips applied
            self.mean = torch.from_numpy(builder.mean_)[None, :, None, None].to(device)
            self.std = torch.from_numpy(builder.std_)[None, :, None, None].to(device)
            self.flow = builder.modality == "flow"

    def __call__(self, idx: np.ndarray, augment=None, generator: torch.Generator | None = None):
        """``(x (B, C, S, S) normalised, channels-last, on the device; y (B,))`` of training items ``idx``."""
        index = torch.from_numpy(np.asarray(idx, dtype=np.int64))
        if not self.resident:
            x = self.builder.batch(self.rows[idx], self.device, self.flips[idx], augment, generator)
            return x, self.labels[index.to(self.device)]
        index = index.to(self.device)
        x = self.raw[index]
        if augment is not None:
            x = augment(x, flow=self.flow, generator=generator)
        x = ((x - self.mean) / self.std).contiguous(memory_format=MEMORY_FORMAT)
        return x, self.labels[index]
