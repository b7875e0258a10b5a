"""The multi-layout demo (``preprocessing.demo.layouts``) read back by each release's real adapter.

``demo-casme2``, ``demo-samm`` and ``demo-casme3`` are three datasets cut from one demo: its subjects split over
the CASME II, SAMM and CAS(ME)^3 layouts. Each adapter writes (or reuses) the whole multi-layout demo, scans its
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
