"""Read the demo's ground truth and compute the exact geometric flow between any two frames of a clip.

Per clip, ``ground_truth/subNN_<clip>.npz`` holds (H, W = frame size, n = frames onset..offset):

- ``micro`` (H, W, 2) float32: onset -> apex flow of the micro-expression alone, in the onset frame's pixels
  (what a perfect flow method would measure once head motion is removed); zero away from the moved landmarks.
- ``expression`` (H, W, 2) float32: the apex expression field ``E`` in the subject's neutral-face coordinates.
- ``blink`` (H, W, 2) float32: the full-closure blink field ``B`` (neutral-face coordinates; zeros if no blink).
- ``profile`` (n,), ``closure`` (n,): expression intensity and lid closure per frame.
- ``head`` (n, 2, 3): neutral-face -> frame rigid transform per frame.
- ``frame_numbers`` (n,), ``landmarks_onset`` (68, 2): true landmarks in the onset frame.
- hard preset only: ``distractor`` (H, W, 2) float32, the peak field ``D`` of a non-emotional movement (speech,
  swallow, lid twitch, glance; zeros if none), neutral-face coordinates, and ``distractor_profile`` (n,) its
  intensity per frame. ``micro`` is the micro-expression alone, without it; head nods are in ``head``.

Frame ``t`` shows neutral point ``p`` at ``head_t(p + profile_t E(p) + closure_t B(p) + distractor_t D(p))``.
Illumination drift and flicker, noise, JPEG and the lids' colour change during blinks are photometric: they are
not part of any flow here.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from preprocessing.demo.warp import affine_points, invert_affine, invert_displacement, pixel_grid, sample_field


def load_clip_truth(root: Path, subject: str, clip: str) -> dict:
    """The ground truth of one clip: the npz arrays plus its ``ground_truth.json`` record under ``"record"``.

    Args:
        root: demo root (holding ``ground_truth.json``).
        subject: ``"sub01"`` (a namespaced ``"demo/sub01"`` is accepted).
        clip: clip name, e.g. ``"EP02_01f"``.
    """
    root = Path(root)
    subject = subject.split("/")[-1]
    records = json.loads((root / "ground_truth.json").read_text(encoding="utf-8"))["clips"]
    matches = [r for r in records if r["subject"] == subject and r["clip"] == clip]
    if not matches:
        raise KeyError(f"{root / 'ground_truth.json'}: no clip {subject}/{clip}")
    with np.load(root / matches[0]["ground_truth"]) as data:
        truth = {key: data[key] for key in data.files}
    truth["record"] = matches[0]
    return truth


def frame_flow(truth: dict, first: int, second: int) -> np.ndarray:
    """Exact geometric flow from frame number ``first`` to frame number ``second`` of a clip.

    Args:
        truth: ``load_clip_truth`` output.
        first: absolute frame number of the reference frame.
        second: absolute frame number of the moving frame.

    Returns:
        (H, W, 2) float32 ``(u, v)``: the pixel ``(y, x)`` of ``first`` shows up at ``(y + v, x + u)`` in
        ``second`` (head motion, expression, lid motion and any distractor; no photometric change).
    """
    numbers = truth["frame_numbers"].tolist()
    a, b = numbers.index(first), numbers.index(second)
    shape = truth["expression"].shape[:2]
    grid = pixel_grid(shape)

    def deformation(i: int) -> np.ndarray:
        field = (truth["expression"] * np.float32(truth["profile"][i])
                 + truth["blink"] * np.float32(truth["closure"][i]))
        if "distractor" in truth:  # the hard preset's non-emotional movement
            field += truth["distractor"] * np.float32(truth["distractor_profile"][i])
        return field

    neutral = affine_points(invert_affine(truth["head"][a]), grid)  # deformed-face point seen at q in `first`
    neutral = invert_displacement(deformation(a), neutral)  # the neutral point p
    moved = neutral + sample_field(deformation(b), neutral)
    return (affine_points(truth["head"][b], moved) - grid).astype(np.float32)
