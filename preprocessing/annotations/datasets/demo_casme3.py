"""Dataset ``demo-casme3``: the multi-layout demo's subjects in the CAS(ME)^3 layout, read by its real adapter."""

from __future__ import annotations

from pathlib import Path

from preprocessing.annotations.datasets.demo_layout import DEFAULT_LAYOUTS, scan_layout
from preprocessing.annotations.sample import DatasetScan

NAME = "demo-casme3"
TITLE = "built-in demo, CAS(ME)^3 layout"


def scan(root: str | Path | None = None, *, seed: int = 0, small: bool = False, n_subjects: int = 0,
         clips_per_subject: int = 0, preset: str = "easy", layouts: str = DEFAULT_LAYOUTS) -> DatasetScan:
    """Write (or reuse) the multi-layout demo and read its CAS(ME)^3 layout (see ``demo_layout``).

    Args:
        root: the multi-layout demo's folder (default: the cache's, next to the demo's).
        seed, preset: the rendered demo's; ``small``: three subjects per layout, 3 clips each.
        n_subjects, clips_per_subject: overrides (0: the chosen size's); the subjects are split over the layouts.
        layouts: the layouts written (comma-separated; must include casme3).
    """
    return scan_layout("casme3", root, seed=seed, small=small, n_subjects=n_subjects,
                       clips_per_subject=clips_per_subject, preset=preset, layouts=layouts)
