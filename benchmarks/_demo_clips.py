"""Demo clips with exact ground truth, aligned the way the pipeline aligns them (shared by the benchmarks)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from preprocessing.annotations.sample import Sample
from preprocessing.vision.alignment import Alignment, FaceAligner
from preprocessing.vision.clip import read_gray
from preprocessing.vision.masks import build_mask


def demo_available() -> bool:
    """Whether the demo generator (``preprocessing.demo``) can be imported."""
    try:
        import preprocessing.demo  # noqa: F401
    except ImportError:
        return False
    return True


def demo_samples(root: Path) -> list[tuple[Sample, dict]]:
    """Every demo clip as a ``Sample`` (apex as annotated) with its ``ground_truth.json`` record."""
    from preprocessing.demo import FRAMES_DIR, GROUND_TRUTH

    records = json.loads((root / GROUND_TRUTH).read_text(encoding="utf-8"))["clips"]
    out = []
    for r in records:
        numbers = tuple(range(r["onset"], r["offset"] + 1))
        folder = root / FRAMES_DIR / r["subject"] / r["clip"]
        frames = tuple(str(folder / f"img{n}.jpg") for n in numbers)
        sample = Sample(
            dataset="demo",
            subject=f"demo/{r['subject']}",
            clip=r["clip"],
            emotion=r["emotion"],
            onset=r["onset"],
            apex=r["apex"],
            offset=r["offset"],
            frames=frames,
            frame_numbers=numbers,
        )
        out.append((sample, r))
    return out


def aligned_flow(raw_flow: np.ndarray, alignment: Alignment) -> np.ndarray:
    """A raw-frame flow (H, W, 2) seen in aligned coordinates: (S, S, 2), ``A_lin @ flow(A^-1 q)``."""
    size = alignment.size
    sampled = cv2.warpAffine(
        raw_flow, alignment.matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )  # flow at the raw point behind each aligned pixel
    return (sampled @ alignment.matrix[:, :2].T).astype(np.float32)


@dataclass
class DemoPair:
    """An aligned onset/apex pair of a demo clip with its exact flow and the motion mask."""

    sample_id: str
    onset: np.ndarray  # (S, S) uint8
    apex: np.ndarray  # (S, S) uint8
    truth: np.ndarray  # (S, S, 2) float32 exact onset -> apex flow (head drift + expression + lids)
    mask: np.ndarray  # (S, S) uint8


def demo_pairs(root: Path, aligner: FaceAligner, limit: int | None = None) -> list[DemoPair]:
    """Aligned onset -> apex pairs of the first ``limit`` demo clips (all when None)."""
    from preprocessing.demo import frame_flow, load_clip_truth

    pairs = []
    for sample, record in demo_samples(root)[:limit]:
        onset_raw = read_gray(sample.frame_path(sample.onset))
        alignment = aligner.fit(onset_raw)
        truth = load_clip_truth(root, record["subject"], record["clip"])
        raw_flow = frame_flow(truth, sample.onset, sample.apex)  # (H, W, 2) in raw onset pixels
        pairs.append(
            DemoPair(
                sample_id=sample.sample_id,
                onset=aligner.apply(alignment, onset_raw),
                apex=aligner.apply(alignment, read_gray(sample.frame_path(sample.apex))),
                truth=aligned_flow(raw_flow, alignment),
                mask=build_mask(alignment.landmarks, alignment.size),
            )
        )
    return pairs
