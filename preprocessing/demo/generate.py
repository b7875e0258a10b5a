"""Generate the built-in demo dataset in the CASME II on-disk layout, and cache it.

Layout written under ``root``::

    CASME2_RAW_selected/subNN/EPxx_yy[f]/img<N>.jpg   frames onset..offset (absolute numbers, not from 1)
    CASME2-coding-demo.xlsx                             the real sheet's header and cell types
    ground_truth.json                                   every subject's identity and every clip's parameters
    ground_truth/subNN_EPxx_yy[f].npz                   exact motion fields (see ``ground_truth.py``)
    checksums.json                                      sha256 of every file above (a damaged cache is redone)
    demo.json                                           generator version, seed and parameters (cache key)

The same seed and parameters give byte-identical files (with the same numpy / OpenCV / dlib / openpyxl builds).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import time
import uuid
from pathlib import Path

from mer_ray.infra.locks import exclusive, keyed_lock_path
from mer_ray.infra.runtime import cache_root
from preprocessing.annotations.sample import DatasetError
from preprocessing.demo.config import PRESET_VERSIONS, VERSION, DemoConfig, make_config, manifest
from preprocessing.demo.writing import CHECKSUMS, MANIFEST, _write_dataset, damaged_files

logger = logging.getLogger(__name__)


def generate_demo(root: Path, *, seed: int = 0, preset: str = "easy", **size_params) -> Path:
    """Write the demo dataset to ``root`` (replacing an older demo there), atomically.

    The dataset is written into a temporary folder beside ``root`` and renamed into place, so an interrupted
    generation never leaves a half dataset that looks complete.

    Args:
        root: output folder; created, or replaced if it holds a demo (a ``demo.json``).
        seed: random seed; the same seed, preset and parameters give byte-identical files.
        preset: ``"easy"`` (the quick smoke dataset), ``"hard"`` (``PRESETS``; README, "Hard preset") or
            ``"realistic"`` (hard's machinery, calibrated on the methods' ordering; docs/realism.md).
        **size_params: ``DemoConfig`` fields on top of the preset, e.g. ``n_subjects``, ``clips_per_subject``,
            ``min_frames``, ``max_frames``, ``height``, ``width`` (``SMALL_DEMO`` is a tiny set).

    Returns:
        ``root``.

    Raises:
        DatasetError: ``root`` exists, is not empty and is not a demo dataset (nothing is overwritten).
    """
    config = make_config(preset, **size_params)
    expected = manifest(seed, config)  # validates the seed before anything is written
    root = Path(root).expanduser().resolve()
    ours = (root / MANIFEST).is_file() or (root / CHECKSUMS).is_file()  # a demo, maybe half-deleted
    if root.exists() and not ours and (not root.is_dir() or any(root.iterdir())):
        raise DatasetError(f"{root} exists and is not a demo dataset (no {MANIFEST}); refusing to overwrite it. "
                           f"Give an empty or new folder.")
    root.parent.mkdir(parents=True, exist_ok=True)
    tag = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
    partial, stale = root.parent / f".{root.name}.partial-{tag}", root.parent / f".{root.name}.stale-{tag}"
    try:
        partial.mkdir()
        _write_dataset(partial, seed, config)
        if root.exists():  # an older demo: move it aside, swap the new one in, then delete it
            root.rename(stale)
        try:
            partial.rename(root)
        except OSError:
            if _read_manifest(root) != expected:  # not a concurrent twin that finished first
                raise
    finally:
        shutil.rmtree(partial, ignore_errors=True)
        shutil.rmtree(stale, ignore_errors=True)
    return root


def _read_manifest(root: Path) -> dict | None:
    try:
        return json.loads((root / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def is_current(root: Path, *, seed: int = 0, preset: str = "easy", **size_params) -> bool:
    """Whether ``root`` holds a complete, intact demo of this generator version, seed, preset and parameters.

    Intact: every file of ``checksums.json`` is there with its recorded sha256. A demo made before checksums were
    recorded (no ``checksums.json``) is not current: it is generated again once.
    """
    root = Path(root).expanduser()
    if _read_manifest(root) != manifest(seed, make_config(preset, **size_params)):
        return False
    return damaged_files(root) == []


def default_root(seed: int = 0, preset: str = "easy", **size_params) -> Path:
    """Cache folder of a demo: ``$MER_RAY_CACHE/demo/v<VERSION>-seed<seed>``, then ``-hard<HARD_VERSION>`` for the
    hard preset, then a parameter hash when the parameters are not the preset's own."""
    config = make_config(preset, **size_params)
    name = f"v{VERSION}-seed{seed}" + ("" if preset == "easy" else f"-{preset}{PRESET_VERSIONS[preset]}")
    if config != make_config(preset):
        params = json.dumps(manifest(seed, config)["params"], sort_keys=True)
        name += f"-{hashlib.sha1(params.encode()).hexdigest()[:10]}"
    return cache_root() / "demo" / name


def ensure_demo(root: Path | None = None, *, seed: int = 0, preset: str = "easy", **size_params) -> Path:
    """The demo dataset, generated on first use and reused afterwards.

    Args:
        root: where it lives; default ``default_root(seed, preset, **size_params)`` under ``$MER_RAY_CACHE``.
        seed: random seed.
        preset: ``"easy"`` or ``"hard"`` (see ``generate_demo``).
        **size_params: ``DemoConfig`` fields (see ``generate_demo``).

    Returns:
        The dataset root (holding ``CASME2_RAW_selected/`` and ``CASME2-coding-demo.xlsx``). An existing folder
        is reused only when its ``demo.json`` matches this generator version, seed, preset and parameters and
        its files match ``checksums.json`` (none missing or changed); otherwise the demo is generated again. One
        process generates a folder at a time (a file lock under ``$MER_RAY_CACHE/locks``): a second one waits.
    """
    config = make_config(preset, **size_params)
    root = Path(root).expanduser().resolve() if root is not None else default_root(seed, preset, **size_params)
    if is_current(root, seed=seed, preset=preset, **size_params):
        return root
    # one generator per folder: a second process waits, then finds the first one's demo current
    with exclusive(keyed_lock_path(root), f"generating the demo dataset into {root}"):
        if is_current(root, seed=seed, preset=preset, **size_params):
            return root
        _generate_logged(root, config, seed, preset, size_params)
    return root


def _generate_logged(root: Path, config: DemoConfig, seed: int, preset: str, size_params: dict) -> None:
    if not root.exists():
        why = "first use"
    elif _read_manifest(root) != manifest(seed, config):
        why = "out of date: other generator version or parameters"
    else:
        damaged = damaged_files(root)
        why = ("made before checksums were recorded" if damaged is None
               else f"damaged: {len(damaged)} files missing or changed, e.g. {damaged[0]}")
    logger.info("generating the built-in demo dataset (%s preset) into %s (%s)", preset, root, why)
    start = time.perf_counter()
    generate_demo(root, seed=seed, preset=preset, **size_params)
    logger.info("demo dataset ready in %.1f s: %d subjects, %d clips", time.perf_counter() - start,
                config.n_subjects, config.n_clips)
