"""The built-in demo dataset (synthetic micro-expressions on real face photos, CASME II layout).

Generated into a cache folder on first use (see ``preprocessing.demo``), then read by the CASME II adapter;
its clips are relabelled ``dataset="demo"`` with subject ids ``demo/subNN``.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from preprocessing.annotations.datasets import casme2
from preprocessing.annotations.sample import DatasetScan
from preprocessing.demo import FRAMES_DIR, SHEET_NAME, SMALL_DEMO, ensure_demo

NAME = "demo"
TITLE = "built-in demo"


def demo_size(small: bool = False, n_subjects: int = 0, clips_per_subject: int = 0, preset: str = "easy") -> dict:
    """Parameters for ``ensure_demo``: the preset (small: a tiny version of it), with any non-zero override on top."""
    params = {**({"preset": preset} if preset != "easy" else {}), **(SMALL_DEMO if small else {})}
    if n_subjects:
        params["n_subjects"] = n_subjects
    if clips_per_subject:
        params["clips_per_subject"] = clips_per_subject
    return params


def relabel(subject: str) -> str:
    return f"{NAME}/{subject.split('/', 1)[-1]}"


def scan(root: str | Path | None = None, *, seed: int = 0, small: bool = False, n_subjects: int = 0,
         clips_per_subject: int = 0, preset: str = "easy") -> DatasetScan:
    """Generate the demo if needed, then read it like CASME II.

    Args:
        root: where the demo lives (default: ``$MER_RAY_CACHE/demo/v<version>-seed<seed>...``); generated there
            when missing or made by another generator version, seed or size.
        seed: the demo's random seed.
        small: the tiny demo (``SMALL_DEMO``: 3 subjects x 3 clips) for smoke tests.
        n_subjects: override the number of subjects (0 = the default of the chosen size).
        clips_per_subject: override the clips per subject (0 = the default of the chosen size).
        preset: ``"easy"`` (the quick smoke dataset) or ``"hard"`` (AU mixtures, label noise, distractors...:
            calibrated to be as hard for a linear probe as the real composite; README, "Hard preset").

    Returns:
        The scan, with ``dataset="demo"`` and subject ids ``demo/subNN``.
    """
    location = ensure_demo(Path(root) if root is not None else None, seed=seed,
                           **demo_size(small, n_subjects, clips_per_subject, preset))
    found = casme2.scan(location, sheet=SHEET_NAME, frames_dir=FRAMES_DIR)
    return DatasetScan(
        dataset=NAME,
        root=location,
        samples=[dataclasses.replace(s, dataset=NAME, subject=relabel(s.subject)) for s in found.samples],
        exclusions=[dataclasses.replace(e, dataset=NAME, subject=relabel(e.subject)) for e in found.exclusions],
        notes=[f"{TITLE} dataset ({preset} preset, seed {seed}) at {location}", *found.notes],
    )
