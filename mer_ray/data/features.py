"""Training data: the preprocessing shards read once into arrays plus a metadata table.

Training never touches OpenCV or dlib: it only reads what ``python -m preprocessing run`` wrote.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from preprocessing.annotations.datasets import demo_dataset_flags, only_demo
from preprocessing.features import integrity, shards

MASKED_LABEL = -1  # what the trainer sees in place of a held-out subject's labels
# sheet columns that name or imply the label: blanked with it (the AU codes feed ``TrainConfig.au_weight``)
REVEALING_COLUMNS = ("emotion", "action_units")
MODALITIES = ("flow", "apex")
# arrays a FeatureSet may lack (in-memory sets, folders made without them): name -> what it holds
OPTIONAL_ARRAYS = {
    "landmarks": "the 68 dlib landmarks of the aligned onset face",
    "sequence": "the aligned frame sequence onset..offset",
}


class FeaturesError(ValueError):
    """A features folder is missing, incomplete or does not match what was asked of it."""


@dataclass(frozen=True)
class FeatureSet:
    """Arrays of the processed clips, row-aligned with ``meta``.

    Attributes:
        meta: one row per clip: sample_id, dataset, subject, clip, emotion, label, onset, apex, offset, ...
        flow: (N, 4, S, S) float32 [u, v, strain, magnitude] onset -> apex, in aligned-face pixels.
        apex_face: (N, S, S) uint8 aligned grayscale apex face.
        mask: (N, S, S) uint8, 1 where expression motion is kept (eyes and background masked out).
        source: the features folder (absolute) or ``""`` for in-memory sets.
        manifest: the folder's ``manifest.json`` (empty for in-memory sets).
        landmarks: (N, 68, 2) float32 landmarks in aligned-face pixels, or None.
        sequence: (N, T, s, s) uint8 aligned frames sampled over onset..offset, or None (a folder made without
            them, ``python -m preprocessing run --sequence-frames 0``, or made before they were stored).
    """

    meta: pd.DataFrame
    flow: np.ndarray
    apex_face: np.ndarray
    mask: np.ndarray
    source: str = ""
    manifest: dict = field(default_factory=dict, repr=False)
    landmarks: np.ndarray | None = field(default=None, repr=False)
    sequence: np.ndarray | None = field(default=None, repr=False)

    def __post_init__(self):
        n = len(self.meta)
        for name in ("flow", "apex_face", "mask", *OPTIONAL_ARRAYS):
            array = getattr(self, name)
            if array is not None and len(array) != n:
                raise ValueError(f"{name} has {len(array)} rows; meta has {n}")

    def __len__(self) -> int:
        return len(self.meta)

    @property
    def labels(self) -> np.ndarray:
        return self.meta["label"].to_numpy(dtype=np.int64)

    @property
    def subjects(self) -> list[str]:
        """Subjects in order of first appearance sorted by name (a stable fold order)."""
        return sorted(self.meta["subject"].unique().tolist())

    @property
    def datasets(self) -> list[str]:
        return sorted(self.meta["dataset"].unique().tolist())

    @property
    def is_demo(self) -> bool:
        """Whether these are the built-in demo's clips alone (its CPU-sized search variants then apply)."""
        return only_demo(self.manifest.get("datasets", {}))

    @property
    def size(self) -> int:
        return int(self.flow.shape[-1])

    def subset(self, rows: np.ndarray) -> FeatureSet:
        """Rows ``rows`` (indices or a boolean mask) as a new set (arrays copied)."""
        rows = np.flatnonzero(rows) if np.asarray(rows).dtype == bool else np.asarray(rows)
        optional = {name: getattr(self, name) for name in OPTIONAL_ARRAYS}
        return replace(
            self,
            meta=self.meta.iloc[rows].reset_index(drop=True),
            flow=self.flow[rows],
            apex_face=self.apex_face[rows],
            mask=self.mask[rows],
            **{name: None if array is None else array[rows] for name, array in optional.items()},
        )

    def with_masked_labels(self, subjects: str | list[str] | tuple[str, ...]) -> FeatureSet:
        """The same set with these subjects' labels replaced by ``MASKED_LABEL`` and their ``REVEALING_COLUMNS``
        blanked (arrays shared, not copied)."""
        names = [subjects] if isinstance(subjects, str) else list(subjects)
        unknown = set(names) - set(self.meta["subject"])
        if unknown:
            raise ValueError(f"subjects {sorted(unknown)} are not in this feature set ({len(self.subjects)} subjects)")
        meta = self.meta.copy()
        hidden = meta["subject"].isin(names)
        meta.loc[hidden, "label"] = MASKED_LABEL
        for column in REVEALING_COLUMNS:  # the sheet's words for the label are hidden with it
            if column in meta:
                meta.loc[hidden, column] = ""
        return replace(self, meta=meta)


def load_features(
    path: str | Path,
    *,
    datasets: list[str] | None = None,
    subjects: list[str] | None = None,
) -> FeatureSet:
    """Read a features folder written by ``python -m preprocessing run``.

    Args:
        path: the ``--out`` folder of the preprocessing run (holds ``manifest.json`` and ``shards/``).
        datasets: keep only these datasets (narrow a composite protocol to a subset), e.g. ``["casme2"]``.
        subjects: keep only these subjects.

    Returns:
        The processed clips (rejected ones left out), sorted by sample id.

    Raises:
        FeaturesError: no manifest; a shard missing, truncated, changed since the manifest (checksum) or not in it
            (``preprocessing/features/integrity.py``); the message names it and the repair command.
    """
    path = Path(path).expanduser().resolve()
    manifest = shards.read_manifest(path)
    if manifest is None:
        raise FeaturesError(
            f"{path / shards.MANIFEST} not found: {path} is not a complete features folder; run "
            f"`python -m preprocessing run --out {path}` (an interrupted run resumes)"
        )
    problems = integrity.verify(path, manifest)  # before any read: a bad shard is named, never a pyarrow error
    if problems:
        raise FeaturesError(f"{integrity.describe(path, problems)}; repair it (only the damaged shards' clips are "
                            f"recomputed): `{integrity.repair_command(manifest, path)}`")
    if not integrity.shard_files(path):
        raise FeaturesError(f"{path / shards.SHARDS_DIR} holds no Parquet shards although the manifest exists")
    meta = shards.read_meta(path, manifest["sample_ids"]).to_pandas()
    keep = np.ones(len(meta), dtype=bool)
    if datasets is not None:
        unknown = set(datasets) - set(meta["dataset"])
        if unknown:
            raise FeaturesError(f"datasets {sorted(unknown)} not in {path}; it holds {sorted(set(meta['dataset']))}")
        keep &= meta["dataset"].isin(datasets).to_numpy()
    if subjects is not None:
        keep &= meta["subject"].isin(subjects).to_numpy()
    meta = meta[keep].reset_index(drop=True)
    if meta.empty:
        raise FeaturesError(f"no processed clips left in {path} after the selection")
    stored = shards.stored_arrays(path)
    optional = [name for name in OPTIONAL_ARRAYS if name in stored]
    arrays, _ = shards.read_arrays(path, meta["sample_id"].tolist(), ("flow", "apex_face", "mask", *optional))
    return FeatureSet(
        meta=meta.astype({"label": np.int64}),
        flow=arrays["flow"],
        apex_face=arrays["apex_face"],
        mask=arrays["mask"],
        source=str(path),
        manifest=manifest,
        **{name: arrays.get(name) for name in OPTIONAL_ARRAYS},
    )


def require_arrays(features: FeatureSet, names: tuple[str, ...] | list[str], user: str) -> None:
    """Refuse ``features`` when it lacks one of the optional arrays ``names`` that ``user`` (a method) reads.

    Raises:
        FeaturesError: naming the user, what is missing, where, and the preprocessing command that adds it.
    """
    unknown = sorted(set(names) - set(OPTIONAL_ARRAYS))
    if unknown:
        raise ValueError(f"unknown optional arrays {unknown}; valid: {sorted(OPTIONAL_ARRAYS)}")
    missing = [name for name in names if getattr(features, name) is None]
    if not missing:
        return
    what = " and ".join(f"{OPTIONAL_ARRAYS[name]} (`{name}`)" for name in missing)
    if not features.source:
        raise FeaturesError(f"method {user!r} needs {what}, which this in-memory feature set lacks; build the "
                            f"FeatureSet with {', '.join(f'{name}=...' for name in missing)}")
    why = " (made with --sequence-frames 0, or before frame sequences were stored)" if "sequence" in missing else ""
    raise FeaturesError(
        f"method {user!r} needs {what}, which the features folder {features.source} does not store{why}; "
        f"preprocess the clips again into a new folder: `{preprocess_command(features.manifest)}`, then pass "
        "--features NEW_FOLDER"
    )


def preprocess_command(manifest: dict, out: str = "NEW_FOLDER") -> str:
    """The ``python -m preprocessing run`` command that rebuilds a features folder's selection into ``out`` with
    the frame sequences stored (from the manifest's provenance: datasets, protocol, face size, smoke test)."""
    parts = ["python -m preprocessing run"]
    datasets = manifest.get("datasets") or {}
    if not only_demo(datasets):  # the demo is what `run` takes without --dataset
        parts.append(f"--protocol {manifest.get('protocol', 'PROTOCOL')}")
        parts += [f"--dataset {name}={root}" for name, root in datasets.items()] or ["--dataset NAME=DIR"]
    else:
        parts += demo_dataset_flags(datasets)
    if manifest.get("face_size", 224) != 224:
        parts.append(f"--face-size {manifest['face_size']}")
    if manifest.get("smoke_test"):
        parts.append("--smoke-test")
    parts += ["--sequence-frames 8", f"--out {out}"]
    return " ".join(parts)
