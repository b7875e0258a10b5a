"""The on-disk feature cache: Parquet shards + rejects table + manifest.json.

Layout of an output folder::

    OUT/manifest.json        written last: its presence means the run completed
    OUT/shards/*.parquet     one row per clip (processed or rejected, see ``status``)
    OUT/rejects.parquet      every clip left out: adapter / protocol exclusions and pipeline rejects

The schema and the stored arrays are described in :mod:`preprocessing.features.shard_schema`; this module names the
folder's files, finds its readable shards and reads clips back (metadata, stored arrays, outcomes, the manifest).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from preprocessing.features.shard_schema import (
    ARRAYS,
    META_COLUMNS,
    OK,
    OPTIONAL_ARRAYS,
    SEQUENCE,
    SEQUENCE_SHAPE_COLUMNS,
)

SHARDS_DIR = "shards"
MANIFEST = "manifest.json"
REJECTS = "rejects.parquet"


def valid_shards(out: Path) -> list[Path]:
    """Shard files of ``out`` whose Parquet footer reads; a file cut short by a killed run is deleted."""
    return _sort_shards(out)[0]


def remove_torn_shards(out: Path) -> list[Path]:
    """Delete the shard files of ``out`` whose Parquet footer does not read (cut short by a kill or a full disk);
    returns them. Their clips are simply computed again by the next run."""
    return _sort_shards(out)[1]


def _sort_shards(out: Path) -> tuple[list[Path], list[Path]]:
    """``(readable shards, torn shards)`` of ``out``; the torn ones are deleted."""
    shard_dir = Path(out) / SHARDS_DIR
    if not shard_dir.is_dir():
        return [], []
    good, torn = [], []
    for path in sorted(shard_dir.glob("*.parquet")):
        try:
            pq.read_metadata(path)
        except (OSError, pa.ArrowInvalid):
            path.unlink(missing_ok=True)  # torn write from an interrupted run: its clips are simply redone
            torn.append(path)
            continue
        good.append(path)
    return good, torn


def done_sample_ids(out: Path) -> set[str]:
    """Sample ids already present (processed or rejected) in the valid shards of ``out``."""
    done: set[str] = set()
    for path in valid_shards(out):
        done.update(pq.read_table(path, columns=["sample_id"]).column("sample_id").to_pylist())
    return done


def read_shard_rows(out: Path, columns: list[str]) -> pa.Table:
    """All rows of the valid shards (selected columns), duplicates of a sample id dropped (first kept)."""
    tables = [pq.read_table(path, columns=columns) for path in valid_shards(out)]
    if not tables:
        return pa.table({c: [] for c in columns})
    table = pa.concat_tables(tables, promote_options="default")
    ids = table.column("sample_id").to_pylist()
    seen: set[str] = set()
    keep = []
    for i, sid in enumerate(ids):
        if sid not in seen:
            seen.add(sid)
            keep.append(i)
    return table.take(keep) if len(keep) != len(ids) else table


STATUS_COLUMNS = ("sample_id", "dataset", "subject", "clip", "label", "status", "stage", "reason", "path", "apex",
                  "annotated_apex", "apex_spotted")


def read_status(out: Path, sample_ids: Iterable[str]) -> pa.Table:
    """Outcome of every stored clip among ``sample_ids``: :data:`STATUS_COLUMNS` (no arrays), one row per clip."""
    table = read_shard_rows(out, list(STATUS_COLUMNS))
    return table.filter(pc.is_in(table.column("sample_id"), value_set=pa.array(sorted(set(sample_ids)))))


def is_processed(table: pa.Table) -> pa.ChunkedArray:
    """Boolean mask of the processed (not rejected) rows of a shard table."""
    return pc.equal(table.column("status"), OK)


def read_meta(out: Path, sample_ids: Iterable[str] | None = None) -> pa.Table:
    """Metadata (:data:`META_COLUMNS`) of the processed clips of ``out``, one row per clip, sorted by sample id.

    Args:
        out: a features folder.
        sample_ids: keep only these clips (a manifest's ``sample_ids``); default every processed clip.
    """
    files = valid_shards(out)
    present = set(pq.read_schema(files[0]).names) if files else set(META_COLUMNS)
    table = read_shard_rows(out, [*(c for c in META_COLUMNS if c in present), "status"])
    if "action_units" not in present:  # a schema-1 folder: no AU codes stored
        table = table.append_column("action_units", pa.array([""] * len(table), pa.string()))
    table = table.filter(is_processed(table)).select(list(META_COLUMNS))
    if sample_ids is not None:
        table = table.filter(pc.is_in(table.column("sample_id"), value_set=pa.array(sorted(set(sample_ids)))))
    return table.take(pc.sort_indices(table, sort_keys=[("sample_id", "ascending")]))


def stored_arrays(out: Path) -> tuple[str, ...]:
    """Names of the arrays every valid shard of ``out`` stores: all of :data:`ARRAYS`, plus the optional ones
    (:data:`OPTIONAL_ARRAYS`) the folder was made with."""
    paths = valid_shards(out)
    if not paths:
        return ()
    columns = set.intersection(*(set(pq.read_schema(path).names) for path in paths))
    return tuple(name for name in (*ARRAYS, *OPTIONAL_ARRAYS) if name in columns)


def read_arrays(out: Path, sample_ids: Sequence[str], names: Sequence[str] = ("flow", "apex_face", "mask"),
                ) -> tuple[dict[str, np.ndarray], int]:
    """The stored arrays of clips ``sample_ids``, row i holding clip ``sample_ids[i]``.

    Args:
        out: a features folder.
        sample_ids: the clips, in the order wanted.
        names: arrays among :data:`ARRAYS` and :data:`OPTIONAL_ARRAYS` (``"sequence"``: see :func:`stored_arrays`).

    Returns:
        ``(arrays, face_size)``: ``arrays[name]`` has shape ``(len(sample_ids), *ARRAYS[name] shape)``; a
        sequence ``(len(sample_ids), T, s, s)``.
    """
    unknown = sorted(set(names) - set(ARRAYS) - set(OPTIONAL_ARRAYS))
    if unknown:
        raise ValueError(f"unknown stored arrays {unknown}; valid: {sorted([*ARRAYS, *OPTIONAL_ARRAYS])}")
    optional = [name for name in names if name in OPTIONAL_ARRAYS]
    if optional:
        absent = sorted(set(optional) - set(stored_arrays(out)))
        if absent:
            raise ValueError(f"{out}: the shards store no {', '.join(absent)} (the folder was made without it; "
                             f"see PreprocessConfig.sequence)")
    extra = list(SEQUENCE_SHAPE_COLUMNS) if SEQUENCE in names else []
    wanted = pa.array(sorted(set(sample_ids)))
    tables = []
    for path in valid_shards(out):
        table = pq.read_table(path, columns=["sample_id", "status", "face_size", *extra, *names])
        mask = pc.and_(is_processed(table), pc.is_in(table.column("sample_id"), value_set=wanted))
        tables.append(table.filter(mask))
    table = pa.concat_tables(tables) if tables else None
    if table is None or len(table) == 0:
        raise ValueError(f"{out}: none of the {len(sample_ids)} requested clips is stored as processed")
    position: dict[str, int] = {}
    for i, sample_id in enumerate(table.column("sample_id").to_pylist()):
        position.setdefault(sample_id, i)  # a duplicate row of an interrupted run: the first one counts
    missing = [sid for sid in sample_ids if sid not in position]
    if missing:
        raise ValueError(f"{out}: {len(missing)} requested clips are not stored as processed (e.g. {missing[:3]})")
    size = int(table.column("face_size")[0].as_py())
    taken = table.take(pa.array([position[sid] for sid in sample_ids]))
    arrays = {}
    for name in names:
        if name == SEQUENCE:
            shapes = {tuple(int(v) for v in row.values()) for row in taken.select(extra).to_pylist()}
            if len(shapes) != 1:
                raise ValueError(f"{out}: the clips store sequences of different shapes {sorted(shapes)}")
            frames, side = shapes.pop()
            arrays[name] = _fixed_list_to_numpy(taken.column(name), np.uint8, (frames, side, side))
            continue
        shape, dtype = ARRAYS[name]
        arrays[name] = _fixed_list_to_numpy(taken.column(name), dtype, shape(size))
    return arrays, size


def _fixed_list_to_numpy(column: pa.ChunkedArray, dtype: type, shape: tuple[int, ...]) -> np.ndarray:
    array = column.combine_chunks()
    values = array.flatten().to_numpy(zero_copy_only=False)  # flatten() honours slices; .values does not
    return np.ascontiguousarray(values, dtype=dtype).reshape((len(array), *shape))


def read_manifest(out: Path) -> dict[str, Any] | None:
    path = Path(out) / MANIFEST
    if not path.is_file():
        return None
    return json.loads(path.read_text())
