"""A small in-memory FeatureSet whose classes are separable by construction (no preprocessing needed)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from mer_ray.data.features import FeatureSet

# dlib's 68 landmarks of skimage's astronaut aligned by the pipeline (224-px face, rounded): a real face layout
FACE_68 = np.array([
    [30, 63], [31, 85], [34, 105], [37, 127], [44, 146], [56, 166], [73, 180], [92, 191], [112, 194], [134, 191],
    [153, 179], [171, 163], [183, 146], [189, 126], [193, 104], [196, 83], [198, 61], [42, 42], [50, 33], [65, 30],
    [80, 33], [95, 38], [131, 38], [145, 31], [160, 30], [175, 33], [184, 44], [114, 55], [113, 71], [114, 86],
    [114, 101], [95, 109], [104, 112], [113, 113], [122, 111], [131, 109], [57, 56], [66, 50], [79, 49], [88, 60],
    [78, 61], [67, 61], [136, 59], [145, 51], [157, 51], [167, 56], [158, 60], [147, 60], [72, 125], [86, 124],
    [103, 123], [114, 126], [125, 124], [138, 123], [152, 124], [139, 143], [124, 151], [112, 154], [101, 152],
    [86, 144], [78, 128], [103, 130], [112, 132], [123, 129], [147, 126], [124, 142], [113, 144], [102, 143],
], np.float32)


def synthetic_features(n_subjects: int = 4, clips: int = 6, size: int = 64, seed: int = 0,
                       datasets: tuple[str, ...] = ("d1",), *, landmarks: bool = False, sequence_frames: int = 0,
                       sequence_size: int = 32) -> FeatureSet:
    """Flow fields with a class-specific blob (class 0 down-left, 1 up in the lower half, 2 up in the upper half).

    ``landmarks``: add :data:`FACE_68` scaled to ``size`` (jittered per clip). ``sequence_frames`` > 0: add
    (T, s, s) uint8 sequences, a noise texture whose class blob brightens over time.
    """
    rng = np.random.default_rng(seed)
    rows, flows, points, sequences = [], [], [], []
    ys, xs = np.mgrid[0:sequence_size, 0:sequence_size] / sequence_size
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
            points.append(FACE_68 * size / 224 + rng.normal(0, 0.5, FACE_68.shape).astype(np.float32))
            if sequence_frames:
                small = np.exp(-((ys - centre[0]) ** 2 + (xs - centre[1]) ** 2) / 0.02)
                base = rng.integers(40, 200, (sequence_size, sequence_size))
                ramp = np.linspace(0, 1, sequence_frames)[:, None, None]
                sequences.append(np.clip(base + 50 * ramp * small, 0, 255).astype(np.uint8))
            rows.append({"sample_id": f"{dataset}/s{s:02d}/clip{c}", "dataset": dataset,
                         "subject": f"{dataset}/s{s:02d}", "clip": f"clip{c}", "emotion": str(label),
                         "label": label, "onset": 0, "apex": 5, "offset": 10, "apex_spotted": False,
                         "action_units": ("12", "1+2", "R4+7")[label]})
    n = len(rows)
    return FeatureSet(
        meta=pd.DataFrame(rows),
        flow=np.stack(flows),
        apex_face=rng.integers(0, 255, (n, size, size), dtype=np.uint8),
        mask=np.ones((n, size, size), np.uint8),
        landmarks=np.stack(points) if landmarks else None,
        sequence=np.stack(sequences) if sequence_frames else None,
    )


def write_features_folder(features: FeatureSet, out, manifest: dict | None = None):
    """Write ``features`` as a features folder without the pipeline
    (:func:`preprocessing.features.shard_writer.write_feature_set`). Returns ``out``."""
    from preprocessing.features.shard_writer import write_feature_set

    return write_feature_set(features, out, manifest)
