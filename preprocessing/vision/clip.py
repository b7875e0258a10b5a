"""One clip from raw frames to stored features: read -> align (fitted on the onset) -> mask -> apex (spotted
where the annotation has none) -> TV-L1 flow onset->apex -> flow features, plus the aligned frame sequence
onset..offset that sequence descriptors (LBP-TOP) read.

A clip that cannot be processed raises ``ClipRejected`` naming its stage and reason; the pipeline records it in
the rejects table and goes on with the other clips.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np

from mer_ray.infra.validation import check_known_keys, from_dict
from preprocessing.annotations.sample import Exclusion, Sample
from preprocessing.vision.alignment import AlignConfig, Alignment, AlignmentError, FaceAligner
from preprocessing.vision.apex import ApexConfig, spot_apex
from preprocessing.vision.flow import FlowConfig, flow_features, tvl1_flow
from preprocessing.vision.masks import MaskConfig, build_mask

STAGES = ("read", "detect", "landmarks", "apex", "flow")


class ClipRejected(Exception):
    """A clip that cannot be processed: the other clips go on.

    Attributes:
        stage: one of ``STAGES``.
        reason: what was found and what was expected.
        path: the offending file (or the clip's folder), "" when none applies.
    """

    def __init__(self, stage: str, reason: str, path: str | Path = ""):
        super().__init__(f"{path}: {reason} (stage {stage!r})" if path else f"{reason} (stage {stage!r})")
        self.stage = stage
        self.reason = reason
        self.path = str(path)

    def __reduce__(self):  # picklable across Ray workers despite the custom __init__
        return type(self), (self.stage, self.reason, self.path)

    def exclusion(self, sample: Sample) -> Exclusion:
        """The rejects-table record of ``sample`` for this failure."""
        return Exclusion(sample.dataset, sample.subject, sample.clip, self.stage, self.reason, self.path)


@dataclass(frozen=True)
class SequenceConfig:
    """The aligned frame sequence stored per clip for sequence descriptors (LBP-TOP).

    ``frames`` frames are sampled uniformly (nearest stored frame) over onset..offset, both included; each is
    aligned with the onset's transform, like the apex face, and resized to ``size`` x ``size`` uint8.
    """

    frames: int = 8  # T; 0 = store no sequence (LBP-TOP needs >= 3: its XT / YT codes look one frame either side)
    size: int = 64  # side in pixels: LBP-TOP texture at 64 px keeps the storage at T * 4 KiB per clip

    def __post_init__(self) -> None:
        if self.frames != 0 and self.frames < 3:
            raise ValueError(f"SequenceConfig.frames={self.frames}: expected 0 (no sequence) or at least 3")
        if self.size < 8:
            raise ValueError(f"SequenceConfig.size={self.size}: expected at least 8 pixels")

    @property
    def shape(self) -> tuple[int, int] | None:
        """``(frames, size)`` of the stored sequence, None when none is stored."""
        return (self.frames, self.size) if self.frames else None


@dataclass(frozen=True)
class PreprocessConfig:
    """Every parameter that shapes the stored features; its hash names the feature set in the manifest."""

    align: AlignConfig = field(default_factory=AlignConfig)
    mask: MaskConfig = field(default_factory=MaskConfig)
    flow: FlowConfig = field(default_factory=FlowConfig)
    apex: ApexConfig = field(default_factory=ApexConfig)
    sequence: SequenceConfig = field(default_factory=SequenceConfig)

    def to_dict(self) -> dict:
        return {
            "align": asdict(self.align),
            "mask": asdict(self.mask),
            "flow": asdict(self.flow),
            "apex": asdict(self.apex),
            "sequence": asdict(self.sequence),
        }

    @classmethod
    def from_dict(cls, values: dict) -> PreprocessConfig:
        """Inverse of ``to_dict``; missing sections or keys take their defaults, unknown ones raise."""
        sections = {"align": AlignConfig, "mask": MaskConfig, "flow": FlowConfig, "apex": ApexConfig,
                    "sequence": SequenceConfig}
        check_known_keys("PreprocessConfig", values, sections, "sections")
        return cls(**{name: from_dict(kind, values.get(name), f"PreprocessConfig.{name}")
                      for name, kind in sections.items()})

    def config_hash(self) -> str:
        """Stable 16-hex-digit id of the parameters (sorted-key JSON, SHA-256).

        Without a sequence (``sequence.frames == 0``) the section is left out of the hash: such a folder stores
        exactly what folders made before sequences existed store, and keeps their hash (they stay valid).
        """
        values = self.to_dict()
        if not self.sequence.frames:
            del values["sequence"]
        text = json.dumps(values, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass
class ClipFeatures:
    """What is stored for one clip (S = ``AlignConfig.size``).

    Attributes:
        sample_id: ``Sample.sample_id``.
        onset: onset frame number.
        apex: apex frame number used for the flow.
        apex_spotted: True when the annotation had no apex and ``spot_apex`` chose it.
        features: (S, S, 4) float32 u, v, optical strain, magnitude (pixels; not normalised, not masked).
        onset_face: (S, S) uint8 aligned grayscale onset.
        apex_face: (S, S) uint8 aligned grayscale apex.
        mask: (S, S) uint8 {0, 1} motion mask (1 = kept).
        landmarks: (68, 2) float32 landmarks in aligned coordinates.
        sequence: (T, s, s) uint8 aligned frames onset..offset (``SequenceConfig``), None when none is stored.
        angle: eye-line angle of the raw onset face in degrees (the rotation applied).
        faces_found: faces the detector found on the onset (the largest was used).
        warnings: things a reviewer should know (e.g. "2 faces found, took the largest").
    """

    sample_id: str
    onset: int
    apex: int
    apex_spotted: bool
    features: np.ndarray
    onset_face: np.ndarray
    apex_face: np.ndarray
    mask: np.ndarray
    landmarks: np.ndarray
    angle: float
    faces_found: int
    warnings: list[str] = field(default_factory=list)
    sequence: np.ndarray | None = None


def read_gray(path: str | Path) -> np.ndarray:
    """(H, W) uint8 grayscale frame; ``ClipRejected`` (stage "read") when it cannot be decoded."""
    image = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if image is None or image.size == 0:
        raise ClipRejected("read", "unreadable or corrupt frame", path)
    return image


def _frame(sample: Sample, number: int, reference: np.ndarray | None = None) -> np.ndarray:
    try:
        path = sample.frame_path(number)
    except KeyError as error:
        folder = Path(sample.frames[0]).parent if sample.frames else ""
        raise ClipRejected("read", f"frame {number} is missing ({error.args[0]})", folder) from None
    image = read_gray(path)
    if reference is not None and image.shape != reference.shape:
        raise ClipRejected(
            "read",
            f"frame is {image.shape[1]}x{image.shape[0]}, the onset "
            f"{reference.shape[1]}x{reference.shape[0]}; a clip's frames must share a size",
            path,
        )
    return image


def process_clip(sample: Sample, config: PreprocessConfig, aligner: FaceAligner) -> ClipFeatures:
    """Turn one clip into its stored features.

    Args:
        sample: the clip (``sample.apex`` None = spot it among the frames onset+1 .. offset).
        config: preprocessing parameters (``config.align`` must be the aligner's own config).
        aligner: a loaded ``FaceAligner`` (one per process: it holds dlib's models).

    Returns:
        The clip's ``ClipFeatures``.

    Raises:
        ClipRejected: with stage "read", "detect", "landmarks", "apex" or "flow".
    """
    if aligner.config != config.align:
        raise ValueError(
            f"process_clip: the aligner was built with {aligner.config}, the config asks for "
            f"{config.align}; build FaceAligner(config.align)"
        )
    onset_raw = _frame(sample, sample.onset)
    alignment = _fit_onset(sample, aligner, onset_raw)

    def align_frame(number: int) -> np.ndarray:
        return aligner.apply(alignment, _frame(sample, number, onset_raw))

    onset_face = aligner.apply(alignment, onset_raw)  # (S, S) uint8
    mask = build_mask(alignment.landmarks, alignment.size, config.mask)  # (S, S) uint8
    aligned = {sample.onset: onset_face}  # frame number -> aligned face, reused by the stored sequence
    apex, apex_face = _apex_face(sample, config.apex, align_frame, aligned, mask)
    flow = _onset_apex_flow(sample, apex, onset_face, apex_face, config.flow)  # (S, S, 2)
    return ClipFeatures(
        sample_id=sample.sample_id,
        onset=sample.onset,
        apex=apex,
        apex_spotted=sample.apex is None,
        features=flow_features(flow),
        onset_face=onset_face,
        apex_face=apex_face,
        mask=mask,
        landmarks=alignment.landmarks.astype(np.float32),
        angle=float(alignment.angle),
        faces_found=alignment.faces_found,
        warnings=list(alignment.warnings),
        sequence=aligned_sequence(sample, config.sequence, align_frame, aligned),
    )


def _fit_onset(sample: Sample, aligner: FaceAligner, onset_raw: np.ndarray) -> Alignment:
    """The clip's alignment, fitted on its onset frame; an ``AlignmentError`` becomes ``ClipRejected``."""
    try:
        return aligner.fit(onset_raw)
    except AlignmentError as error:
        onset_path = _frame_path(sample, sample.onset)
        raise ClipRejected(error.stage, f"{error.reason} on the onset frame", onset_path) from None


def _apex_face(sample: Sample, config: ApexConfig, align_frame: Callable[[int], np.ndarray],
               aligned: dict[int, np.ndarray], mask: np.ndarray) -> tuple[int, np.ndarray]:
    """``(apex frame number, its aligned face)``: the annotated apex, or where ``sample.apex`` is None the frame of
    onset+1 .. offset that :func:`spot_apex` picks. Every face aligned here is added to ``aligned``."""
    if sample.apex is not None:
        if sample.apex == sample.onset:
            raise ClipRejected("apex", f"the apex equals the onset ({sample.apex}): no motion to measure",
                               _frame_path(sample, sample.onset))
        aligned[sample.apex] = align_frame(sample.apex)
        return sample.apex, aligned[sample.apex]
    candidates = [n for n in sample.frame_numbers if sample.onset < n <= sample.offset]
    if not candidates:
        raise ClipRejected(
            "apex",
            f"no frame after the onset {sample.onset} up to the offset {sample.offset} to spot an apex in",
            _frame_path(sample, sample.onset),
        )
    faces = [align_frame(n) for n in candidates]
    index = spot_apex(aligned[sample.onset], faces, mask, config)
    aligned.update(zip(candidates, faces))
    return candidates[index], faces[index]


def _onset_apex_flow(sample: Sample, apex: int, onset_face: np.ndarray, apex_face: np.ndarray,
                     config: FlowConfig) -> np.ndarray:
    """(S, S, 2) TV-L1 flow from the aligned onset to the aligned apex; ``ClipRejected`` (stage "flow") where it
    has NaN / inf values."""
    flow = tvl1_flow(onset_face, apex_face, config)
    bad = int((~np.isfinite(flow)).sum())
    if bad:
        raise ClipRejected(
            "flow",
            f"TV-L1 flow from frame {sample.onset} to {apex} has {bad} NaN/inf values",
            _frame_path(sample, apex),
        )
    return flow


def sequence_frames(sample: Sample, frames: int) -> list[int]:
    """``frames`` frame numbers sampled uniformly over the clip's stored frames onset..offset (nearest frame; a
    clip with fewer frames repeats some)."""
    numbers = [n for n in sample.frame_numbers if sample.onset <= n <= sample.offset] or [sample.onset]
    picks = np.rint(np.linspace(0, len(numbers) - 1, frames)).astype(int)
    return [numbers[i] for i in picks]


def aligned_sequence(sample: Sample, config: SequenceConfig, align: Callable[[int], np.ndarray],
                     known: dict[int, np.ndarray]) -> np.ndarray | None:
    """(T, s, s) uint8: the sampled frames, aligned (``align(number)``, or ``known`` faces already aligned) and
    resized with area averaging; None when the configuration stores no sequence."""
    if not config.frames:
        return None
    faces = []
    for number in sequence_frames(sample, config.frames):
        if number not in known:
            known[number] = align(number)
        face = known[number]  # (S, S) uint8
        if face.shape != (config.size, config.size):
            face = cv2.resize(face, (config.size, config.size), interpolation=cv2.INTER_AREA)
        faces.append(face)
    return np.stack(faces)


def _frame_path(sample: Sample, number: int) -> str:
    try:
        return str(sample.frame_path(number))
    except KeyError:
        return str(Path(sample.frames[0]).parent) if sample.frames else ""
