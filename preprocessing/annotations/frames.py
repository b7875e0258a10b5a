"""Frame files of a clip folder: numeric frame numbers, numeric order, annotated-frame checks.

Datasets number their frames in the file name: CASME II ``img46.jpg`` (cropped ``reg_img46.jpg``), SAMM
``006_05562.jpg``, SMIC ``image069664.bmp``, MMEW ``1.jpg``. The frame number is the LAST run of digits in the
file stem, so ``img100.jpg`` sorts after ``img46.jpg`` (string order would put it first).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff"})

_LAST_NUMBER = re.compile(r"(\d+)\D*$")


class FrameError(ValueError):
    """A clip folder's frames are unusable (missing folder, no frames, unnumbered or duplicate frame files)."""


def frame_number(path: str | Path) -> int:
    """Frame number written in a frame file's name: the last run of digits of its stem.

    Args:
        path: frame file, e.g. ``.../img46.jpg`` (46), ``.../006_05562.jpg`` (5562), ``.../image069664.bmp``.

    Returns:
        The frame number as an int.

    Raises:
        FrameError: the name holds no digits.
    """
    stem = Path(path).stem
    match = _LAST_NUMBER.search(stem)
    if match is None:
        raise FrameError(
            f"cannot read a frame number from {str(path)!r}: expected a file name ending in digits, "
            "such as img46.jpg, reg_img46.jpg, 006_05562.jpg or image069664.bmp"
        )
    return int(match.group(1))


def is_image(name: str) -> bool:
    """Whether a file name has an image suffix (case-insensitive); hidden files such as ``._img1.jpg`` are not."""
    return not name.startswith(".") and os.path.splitext(name)[1].lower() in IMAGE_SUFFIXES


@dataclass(frozen=True)
class ClipFrames:
    """The image files of one clip folder in numeric order."""

    folder: Path
    paths: tuple[str, ...]  # absolute paths, sorted by frame number
    numbers: tuple[int, ...]  # frame number of each path

    def missing(self, wanted: dict[str, int | None]) -> list[str]:
        """Names of the annotated frames that are not on disk, e.g. ``["apex 59"]``.

        Args:
            wanted: role -> frame number (``None`` roles are skipped), e.g. ``{"onset": 46, "apex": 59}``.
        """
        present = set(self.numbers)
        return [f"{role} {number}" for role, number in wanted.items() if number is not None and number not in present]

    def describe(self) -> str:
        """Short description for error messages, e.g. ``"41 frames 46..86"``."""
        if not self.numbers:
            return "no frames"
        return f"{len(self.numbers)} frames {self.numbers[0]}..{self.numbers[-1]}"


def list_frames(folder: str | Path) -> ClipFrames:
    """List a clip folder's image files sorted by frame number.

    Non-image files (``Thumbs.db``, ``.DS_Store``) are ignored.

    Args:
        folder: the clip folder.

    Returns:
        The folder's frames; ``paths`` are absolute.

    Raises:
        FrameError: the folder is missing, holds no images, an image name has no number, or two images carry
            the same number (e.g. ``img1.jpg`` and ``img01.jpg``).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FrameError(f"clip folder missing: {folder}")
    numbered: dict[int, str] = {}
    with os.scandir(folder) as entries:
        for entry in entries:
            if not is_image(entry.name) or not entry.is_file():
                continue
            try:
                number = frame_number(entry.name)
            except FrameError:
                raise FrameError(f"unnumbered frame file: {entry.name} in {folder}") from None
            if number in numbered:
                other = os.path.basename(numbered[number])
                raise FrameError(f"two frame files share a number: {number} ({other}, {entry.name}) in {folder}")
            numbered[number] = os.path.abspath(entry.path)
    if not numbered:
        suffixes = ", ".join(sorted(IMAGE_SUFFIXES))
        raise FrameError(f"no frames in the clip folder: expected image files ({suffixes}) in {folder}")
    numbers = tuple(sorted(numbered))
    return ClipFrames(folder=folder, paths=tuple(numbered[n] for n in numbers), numbers=numbers)


def natural_key(text: str) -> tuple[tuple[int, int | str], ...]:
    """Sort key that orders digit runs numerically: ``EP2_1`` < ``EP10_1``, ``s2`` < ``s10``."""
    return tuple((0, int(t)) if t.isdigit() else (1, t) for t in re.split(r"(\d+)", text) if t)
