"""Per-frame motion scores of a video FILE (a webcam recording): decode once, track the face, align, flow, cells.

The arithmetic is ``scores.py``'s (same flow methods, affine removal, cells, eye mask, contrast score, kept in a
``scores.VideoMotion``); what differs is where frames come from and how the face is followed:

1. Decode: OpenCV's ``VideoCapture``, one sequential pass, grey frames; only the aligned faces are kept
   (``size`` x ``size`` uint8, 16 KB a frame at 128 px).
2. Track: dlib's HOG detector runs on one frame every ``TrackConfig.check_every`` seconds (not on every frame:
   ~20 ms a 640x480 frame). A check without a face opens a *faceless stretch* (from the last check that had one
   to the next check that has one, both exclusive); the 68-point alignment (``FaceAligner.fit``) is re-fitted
   when the face comes back or has moved (box centre or width changed by ``refit_shift`` of its width). Between
   checks the alignment is kept; the flow's affine part (removed before scoring) absorbs the small head motion.
3. Flow pairs ``(t, t + k)`` are computed under ONE alignment (frames after a re-fit are also warped with the
   previous one for ``max(ks)`` frames), so a re-fit never shows as motion; a pair touching a faceless frame is
   NaN, and so are the scores that use it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import cv2
import numpy as np

from mer_ray.spotting.scores import FLOW_METHODS, ScoreConfig, VideoMotion, affine_basis, eye_cell_mask, residual_cells

UNREADABLE = "unreadable video (OpenCV cannot open it: not a video, or an unsupported codec)"


class VideoError(ValueError):
    """A video that cannot be spotted at all (unreadable, empty, shorter than the window, never a face)."""


@dataclass(frozen=True)
class TrackConfig:
    check_every: float = 0.5  # seconds between face checks (dlib HOG detection on the full frame)
    refit_shift: float = 0.08  # re-fit the alignment when the face box moved / resized by this fraction of its width


@dataclass(frozen=True)
class Stretch:
    """Frames ``start..end`` (inclusive, from 0) where no face was tracked, and why."""

    start: int
    end: int
    reason: str


@dataclass
class StreamScores:
    motion: VideoMotion  # frame numbers 0..n-1, cells per k, eye mask
    fps: float
    frames: int
    faceless: list[Stretch]
    checks: int  # face checks run
    refits: int  # alignments fitted
    warnings: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)  # stage -> wall seconds: decode, track, flow, cells


def open_video(path: str | Path) -> tuple[cv2.VideoCapture, float | None, int | None]:
    """``(capture, fps or None, container frame count or None)``; :class:`VideoError` when it cannot be opened."""
    if not Path(path).is_file():
        raise VideoError("no such file" if not Path(path).exists() else "not a video file (a folder)")
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        raise VideoError(UNREADABLE)
    fps = capture.get(cv2.CAP_PROP_FPS)
    count = capture.get(cv2.CAP_PROP_FRAME_COUNT)
    return (capture, float(fps) if fps and np.isfinite(fps) and 1 <= fps <= 1000 else None,
            int(count) if count and np.isfinite(count) and count > 0 else None)


def _grey(frame: np.ndarray) -> np.ndarray:
    return frame if frame.ndim == 2 else cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)


def read_frames_at(path: str | Path, numbers: set[int]) -> dict[int, np.ndarray]:
    """The grey frames ``numbers`` (indices from 0) of a video, decoded sequentially (exact, unlike seeking)."""
    capture, _, _ = open_video(path)
    out: dict[int, np.ndarray] = {}
    try:
        for i in range(max(numbers, default=-1) + 1):
            if i not in numbers:
                if not capture.grab():
                    break
                continue
            ok, frame = capture.read()
            if not ok or frame is None:
                break
            out[i] = _grey(frame)
    finally:
        capture.release()
    return out


def faceless_stretches(checks: list[tuple[int, str]], n: int) -> list[Stretch]:
    """Stretches from the face checks ``(frame, reason)`` (reason "" = a face was found): a run of failed checks
    covers the frames between the surrounding successful checks (exclusive), or the video's ends."""
    out, i = [], 0
    while i < len(checks):
        if not checks[i][1]:
            i += 1
            continue
        j = i
        while j + 1 < len(checks) and checks[j + 1][1]:
            j += 1
        start = checks[i - 1][0] + 1 if i > 0 else 0
        end = checks[j + 1][0] - 1 if j + 1 < len(checks) else n - 1
        out.append(Stretch(start, end, f"{checks[i][1]} ({j - i + 1} check(s))"))
        i = j + 1
    return out


def _moved(box: tuple[int, int, int, int], ref: tuple[int, int, int, int], shift: float) -> bool:
    width = max(ref[2] - ref[0], 1)
    dx, dy = (box[0] + box[2] - ref[0] - ref[2]) / 2, (box[1] + box[3] - ref[1] - ref[3]) / 2
    return max(abs(dx), abs(dy), abs((box[2] - box[0]) - width)) > shift * width


def score_video_file(path: str | Path, config: ScoreConfig | None = None, track: TrackConfig | None = None,
                     aligner=None, default_fps: float = 30.0, max_frames: int | None = None) -> StreamScores:
    """Scores of one video file (see the module docstring). ``config.ks`` are replaced by ``data.ks_for(fps)``;
    ``max_frames`` stops decoding early (a prefix, for measurements).

    Raises:
        VideoError: unreadable, empty, shorter than the scoring window, or no face at any check.
    """
    from mer_ray.spotting.data import ks_for
    from preprocessing.vision.alignment import AlignConfig, AlignmentError, FaceAligner

    track = track or TrackConfig()
    capture, fps, expected = open_video(path)
    warnings = [] if fps else [f"the video has no frame rate; {default_fps:g} fps assumed"]
    fps = fps or default_fps
    config = replace(config or ScoreConfig(), ks=tuple(ks_for(fps)))
    aligner = aligner or FaceAligner(AlignConfig(size=config.size, margin=config.margin, upsample=0))
    kmax, step = max(config.ks), max(1, int(round(track.check_every * fps)))
    seconds = {"decode": 0.0, "track": 0.0, "flow": 0.0, "cells": 0.0}
    aligned: list[np.ndarray | None] = []
    which: list[int] = []  # alignment index of each frame (-1: none yet)
    carry: dict[int, np.ndarray] = {}  # frames just after a re-fit, warped with the previous alignment
    alignments, checks = [], []
    carry_until, last_fit = -1, -kmax
    try:
        while max_frames is None or len(aligned) < max_frames:
            t0 = time.perf_counter()
            ok, frame = capture.read()
            if not ok or frame is None:
                break
            grey = _grey(frame)
            t1 = time.perf_counter()
            i = len(aligned)
            if i % step == 0:
                faces = aligner.detect(grey, 0)
                reason = "" if faces else "no face found (dlib hog detector)"
                if faces:
                    box = max(faces, key=lambda r: r.width() * r.height())
                    box = (box.left(), box.top(), box.right(), box.bottom())
                    lost = not checks or bool(checks[-1][1])
                    if not alignments or lost or (_moved(box, alignments[-1].face_box, track.refit_shift)
                                                  and i - last_fit >= kmax):
                        try:
                            fitted = aligner.fit(grey)
                        except AlignmentError as err:
                            reason = err.reason
                        else:
                            if alignments and not lost:
                                carry_until = i + kmax
                            alignments.append(fitted)
                            last_fit = i
                checks.append((i, reason))
            if alignments:
                aligned.append(aligner.apply(alignments[-1], grey))
                if i < carry_until:
                    carry[i] = aligner.apply(alignments[-2], grey)
            else:
                aligned.append(None)
            which.append(len(alignments) - 1)
            t2 = time.perf_counter()
            seconds["decode"] += t1 - t0
            seconds["track"] += t2 - t1
    finally:
        capture.release()
    n = len(aligned)
    if n == 0:
        raise VideoError("empty video: no frame could be decoded")
    if expected and n < min(expected, max_frames or expected):
        warnings.append(f"truncated video: {n} of {expected} frames decoded; spotted the decoded part")
    if n <= 2 * kmax + 1:
        raise VideoError(f"{n} frames ({n / fps:.2f} s): shorter than the scoring window (more than "
                         f"{2 * kmax + 1} frames, {(2 * kmax + 1) / fps:.2f} s, needed)")
    if not alignments:
        raise VideoError(f"no face found in any of {len(checks)} checked frames (dlib hog detector, every "
                         f"{track.check_every:g} s)")
    faceless = faceless_stretches(checks, n)
    no_face = np.zeros(n, dtype=np.int64)
    for s in faceless:
        no_face[s.start: s.end + 1] = 1
    bad = np.concatenate([[0], np.cumsum(no_face)])  # bad[j]: faceless frames before frame j
    flow_fn = FLOW_METHODS[config.method]()
    _, pinv = affine_basis(config.size)
    cells = {k: np.full((n, config.grid, config.grid, 2), np.nan, dtype=np.float32) for k in config.ks}
    for k in config.ks:
        for t in range(n - k):
            if bad[t + k + 1] - bad[t] or which[t] < 0:
                continue
            second = aligned[t + k] if which[t + k] == which[t] else carry[t + k]
            a = time.perf_counter()
            flow = flow_fn(aligned[t], second)
            b = time.perf_counter()
            cells[k][t] = residual_cells(flow, pinv, config.grid)
            seconds["flow"] += b - a
            seconds["cells"] += time.perf_counter() - b
    mask = (eye_cell_mask(alignments[0].landmarks, config.size, config.grid) if config.mask_eyes
            else np.ones((config.grid, config.grid), dtype=bool))
    motion = VideoMotion(frame_numbers=np.arange(n), cells=cells, cell_mask=mask, seconds=dict(seconds))
    return StreamScores(motion=motion, fps=fps, frames=n, faceless=faceless, checks=len(checks),
                        refits=len(alignments), warnings=warnings, seconds=seconds)
