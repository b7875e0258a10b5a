"""A small in-memory FeatureSet whose classes are separable by construction (no preprocessing needed)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from mer_ray.data import FeatureSet


def synthetic_features(n_subjects: int = 4, clips: int = 6, size: int = 64, seed: int = 0,
                       datasets: tuple[str, ...] = ("d1",)) -> FeatureSet:
    """Flow fields with a class-specific blob (class 0 down-left, 1 up in the lower half, 2 up in the upper half)."""
    rng = np.random.default_rng(seed)
    rows, flows = [], []
    yy, xx = np.mgrid[0:size, 0:size] / size
    for s in range(n_subjects):
        dataset = datasets[s % len(datasets)]
        for c in range(clips):
            label = c % 3
            flow = rng.normal(0, 0.05, (4, size, size)).astype(np.float32)
            centre = [(0.5, 0.3), (0.75, 0.5), (0.25, 0.5)][label]
            blob = np.exp(-((yy - centre[0]) ** 2 + (xx - centre[1]) ** 2) / 0.02).astype(np.float32)
            flow[0] += blob * (1.0 if label == 0 else 0.2)
            flow[1] += blob * (-1.0 if label else 0.5)
            flow[2] = np.abs(np.gradient(flow[0], axis=1)) + np.abs(np.gradient(flow[1], axis=0))
            flow[3] = np.hypot(flow[0], flow[1])
            flows.append(flow)
            rows.append({"sample_id": f"{dataset}/s{s:02d}/clip{c}", "dataset": dataset,
                         "subject": f"{dataset}/s{s:02d}", "clip": f"clip{c}", "emotion": str(label),
                         "label": label, "onset": 0, "apex": 5, "offset": 10, "apex_spotted": False})
    n = len(rows)
    return FeatureSet(
        meta=pd.DataFrame(rows),
        flow=np.stack(flows),
        apex_face=rng.integers(0, 255, (n, size, size), dtype=np.uint8),
        mask=np.ones((n, size, size), np.uint8),
    )
