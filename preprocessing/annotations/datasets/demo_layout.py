"""The multi-layout demo (``preprocessing.demo.layouts``) read back by each release's real adapter.

``demo-casme2``, ``demo-samm`` and ``demo-casme3`` are three datasets cut from one demo: its subjects split over
the CASME II, SAMM and CAS(ME)^3 layouts, each a :class:`LayoutDataset` (the registry's entries
``demo_layout:DEMO_CASME2``, ...). Each adapter writes (or reuses) the whole multi-layout demo, scans its
own layout's folder with the real adapter (``casme2``, ``samm``, ``casme3``: auto-detection, no shortcuts) and
renames the dataset (``samm/007`` -> ``demo-samm/007``). Together they are what ``python -m mer_ray.loso
--protocol lodo`` uses when no data is given.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from preprocessing.annotations.sample import DatasetScan
from preprocessing.demo import SMALL_DEMO
from preprocessing.demo.layouts import LAYOUTS, dataset_name, ensure_layouts, parse_layouts

DEFAULT_LAYOUTS = ",".join(LAYOUTS)


def layout_size(layouts: tuple[str, ...], small: bool, n_subjects: int, clips_per_subject: int,
                preset: str) -> dict:
    """``ensure_layouts`` parameters: the preset; ``small``: ``SMALL_DEMO`` with three subjects per layout."""
    params = {**({"preset": preset} if preset != "easy" else {}),
              **({**SMALL_DEMO, "n_subjects": 3 * len(layouts)} if small else {})}
    if n_subjects:
        params["n_subjects"] = n_subjects
    if clips_per_subject:
        params["clips_per_subject"] = clips_per_subject
    return params


def scan_layout(layout: str, root: str | Path | None, *, seed: int, small: bool, n_subjects: int,
                clips_per_subject: int, preset: str, layouts: str) -> DatasetScan:
    """Write (or reuse) the multi-layout demo and read ``layout`` with its release's adapter.

    Raises:
        ValueError: ``layout`` is not among ``layouts``, or bad demo parameters.
    """
    from preprocessing.annotations.datasets import get_adapter

    chosen = parse_layouts(layouts)
    if layout not in chosen:
        raise ValueError(f"dataset {dataset_name(layout)}: layout {layout!r} is not among the demo's layouts "
                         f"{','.join(chosen)}")
    location = ensure_layouts(Path(root) if root is not None else None, seed=seed, layouts=chosen,
                              **layout_size(chosen, small, n_subjects, clips_per_subject, preset))
    found = get_adapter(layout).scan(location / layout)
    name = dataset_name(layout)

    def rename(subject: str) -> str:
        return f"{name}/{subject.split('/', 1)[-1]}"

    return DatasetScan(
        dataset=name, root=location,
        samples=[dataclasses.replace(s, dataset=name, subject=rename(s.subject)) for s in found.samples],
        exclusions=[dataclasses.replace(e, dataset=name, subject=rename(e.subject)) for e in found.exclusions],
        notes=[f"built-in demo, {layout} layout ({preset} preset, seed {seed}) at {location / layout}", *found.notes],
    )


class LayoutDataset:
    """One layout of the multi-layout demo as a dataset adapter (``NAME``, ``TITLE``, ``scan``), e.g. ``demo-samm``."""

    def __init__(self, layout: str, release: str):
        self.layout = layout
        self.NAME = dataset_name(layout)
        self.TITLE = f"built-in demo, {release} layout"

    def __repr__(self) -> str:
        return f"LayoutDataset({self.layout!r})"

    def scan(self, root: str | Path | None = None, *, seed: int = 0, small: bool = False, n_subjects: int = 0,
             clips_per_subject: int = 0, preset: str = "easy", layouts: str = DEFAULT_LAYOUTS) -> DatasetScan:
        """Write (or reuse) the multi-layout demo and read this layout (see :func:`scan_layout`).

        Args:
            root: the multi-layout demo's folder (default: the cache's, next to the demo's).
            seed, preset: the rendered demo's; ``small``: three subjects per layout, 3 clips each.
            n_subjects, clips_per_subject: overrides (0: the chosen size's); the subjects are split over the layouts.
            layouts: the layouts written (comma-separated; must include this one).
        """
        return scan_layout(self.layout, root, seed=seed, small=small, n_subjects=n_subjects,
                           clips_per_subject=clips_per_subject, preset=preset, layouts=layouts)


DEMO_CASME2 = LayoutDataset("casme2", "CASME II")
DEMO_SAMM = LayoutDataset("samm", "SAMM")
DEMO_CASME3 = LayoutDataset("casme3", "CAS(ME)^3")
