"""Records shared by every dataset adapter, protocol and the pipeline."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

# 3-class labels of the MEGC2019 composite protocol (and of every single-dataset protocol here).
LABELS: tuple[str, ...] = ("negative", "positive", "surprise")


class DatasetError(ValueError):
    """A dataset root or annotation sheet is unusable as a whole (missing, unreadable, wrong columns)."""


@dataclass(frozen=True)
class Sample:
    """One micro-expression clip, as the dataset describes it.

    Frame numbers are the dataset's own absolute numbers (CASME II `img46.jpg` is frame 46).

    Attributes:
        dataset: adapter name, e.g. ``"casme2"``.
        subject: namespaced subject id, e.g. ``"casme2/sub01"``, ``"samm/006"``, ``"smic/s01"``.
        clip: clip name as the dataset spells it (``"EP02_01f"``, ``"006_1_2"``, ``"s01_ne_01"``).
        emotion: the dataset's original emotion label, lower case (``"happiness"``, ``"negative"``).
        onset: first frame of the expression.
        apex: frame of peak intensity, or ``None`` where the dataset has none (SMIC).
        offset: last frame of the expression.
        frames: absolute paths of the clip's frames, sorted by frame number.
        frame_numbers: the frame number of each path in ``frames``.
        action_units: FACS code string as written in the sheet (may be empty).
        label: 3-class label (0 negative, 1 positive, 2 surprise) once a protocol has mapped it, else ``None``.
    """

    dataset: str
    subject: str
    clip: str
    emotion: str
    onset: int
    apex: int | None
    offset: int
    frames: tuple[str, ...] = field(repr=False)
    frame_numbers: tuple[int, ...] = field(repr=False)
    action_units: str = ""
    label: int | None = None

    @property
    def sample_id(self) -> str:
        """Globally unique id, e.g. ``"casme2/sub01/EP02_01f"``."""
        return f"{self.subject}/{self.clip}"

    def frame_path(self, number: int) -> Path:
        """Path of frame ``number``; raises ``KeyError`` naming the clip when the frame is not on disk."""
        try:
            return Path(self.frames[self.frame_numbers.index(number)])
        except ValueError:
            raise KeyError(f"{self.sample_id}: frame {number} is not among its {len(self.frames)} frames") from None


@dataclass(frozen=True)
class Exclusion:
    """A clip that was left out, and why: the other clips go on without it."""

    dataset: str
    subject: str
    clip: str
    stage: str  # "sheet", "frames", "protocol", or a pipeline stage ("detect", "flow", ...)
    reason: str
    path: str = ""

    @property
    def sample_id(self) -> str:
        return f"{self.subject}/{self.clip}"


@dataclass
class DatasetScan:
    """What an adapter found under a dataset root: usable samples plus the clips it had to exclude."""

    dataset: str
    root: Path
    samples: list[Sample] = field(default_factory=list)
    exclusions: list[Exclusion] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what the adapter found where (sheet, frames folder), for the user
