"""The on-disk feature cache: Parquet shards + rejects table + manifest.json.

Layout of an output folder::

    OUT/manifest.json        written last: its presence means the run completed
    OUT/shards/*.parquet     one row per clip (processed or rejected, see ``status``)
    OUT/rejects.parquet      every clip left out: adapter / protocol exclusions and pipeline rejects

Arrays are stored as fixed-size lists so that plain ``pyarrow.parquet.read_table`` reads them (no Ray extension
types); shapes are given by the ``face_size`` column: ``flow`` is (4, S, S) float32 channels-first
[u, v, strain, magnitude], ``onset_face`` / ``apex_face`` / ``mask`` are (S, S) uint8, ``landmarks`` (68, 2)
float32 in aligned-face pixels. ``sequence`` (T, s, s) uint8, the aligned frames onset..offset, is stored only by
folders made with ``PreprocessConfig.sequence.frames > 0`` (the default); its shape is given by the
``sequence_frames`` / ``sequence_size`` columns, and folders made without it lack all three columns.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from mer_ray.infra.atomic import atomic_path, write_json
from preprocessing.annotations.sample import Exclusion, Sample

SHARDS_DIR = "shards"
MANIFEST = "manifest.json"
REJECTS = "rejects.parquet"
FLOW_CHANNELS: tuple[str, ...] = ("u", "v", "strain", "magnitude")
SCHEMA_VERSION = 2  # 2: the sheet's action-unit codes (``action_units``); 1 lacks them
REJECT_COLUMNS = ("sample_id", "dataset", "subject", "clip", "stage", "reason", "path")
# per-clip metadata a reader gets back (the rest of the schema is provenance or arrays)
META_COLUMNS = ("sample_id", "dataset", "subject", "clip", "emotion", "label", "onset", "apex", "offset",
                "apex_spotted", "action_units")
OK = "ok"  # ``status`` of a processed clip; rejected clips carry "rejected" and a stage / reason
REJECTED = "rejected"
# stored arrays: column -> (per-row shape given the face size S, numpy dtype)
ARRAYS: dict[str, tuple[Any, type]] = {
    "flow": (lambda s: (len(FLOW_CHANNELS), s, s), np.float32),  # channels-first [u, v, strain, magnitude]
    "onset_face": (lambda s: (s, s), np.uint8),
    "apex_face": (lambda s: (s, s), np.uint8),
    "mask": (lambda s: (s, s), np.uint8),  # 1 where expression motion is kept
    "landmarks": (lambda s: (68, 2), np.float32),
}
SEQUENCE = "sequence"  # optional stored array: (T, s, s) uint8, shape given by SEQUENCE_SHAPE_COLUMNS
SEQUENCE_SHAPE_COLUMNS = ("sequence_frames", "sequence_size")
OPTIONAL_ARRAYS = (SEQUENCE,)


def shard_schema(size: int, sequence: tuple[int, int] | None = None) -> pa.Schema:
    """Schema of a shard for faces of ``size`` x ``size`` pixels.

    Args:
        size: the aligned face side S.
        sequence: ``(frames, side)`` of the stored frame sequence (``SequenceConfig.shape``); None stores none.
    """
    optional = []
    if sequence is not None:
        frames, side = sequence
        optional = [("sequence_frames", pa.int16()), ("sequence_size", pa.int16()),
                    (SEQUENCE, pa.list_(pa.uint8(), frames * side * side))]
    return pa.schema(
        [
            ("sample_id", pa.string()),
            ("dataset", pa.string()),
            ("subject", pa.string()),
            ("clip", pa.string()),
            ("emotion", pa.string()),
            ("action_units", pa.string()),  # the sheet's FACS codes as written ("1+2", "R14"); "" where none
            ("label", pa.int8()),
            ("onset", pa.int32()),
            ("apex", pa.int32()),  # apex used for the flow (annotated or spotted)
            ("annotated_apex", pa.int32()),  # null where the dataset has none (SMIC)
            ("offset", pa.int32()),
            ("apex_spotted", pa.bool_()),
            ("status", pa.string()),  # "ok" or "rejected"
            ("stage", pa.string()),  # rejected rows: the stage that failed
            ("reason", pa.string()),
            ("path", pa.string()),
            ("face_size", pa.int32()),
            ("eye_angle_deg", pa.float32()),
            ("faces_found", pa.int16()),
            ("warnings", pa.list_(pa.string())),
            *[(name, pa.list_(pa.from_numpy_dtype(dtype), int(np.prod(shape(size)))))
              for name, (shape, dtype) in ARRAYS.items()],
            *optional,
        ],
        metadata={"mer_ray.schema_version": str(SCHEMA_VERSION), "mer_ray.flow_channels": ",".join(FLOW_CHANNELS)},
    )


def _sample_fields(sample: Sample) -> dict[str, Any]:
    """The fields of a Sample that the sample rows and the shard rows both carry as they are."""
    return {
        "sample_id": sample.sample_id,
        "dataset": sample.dataset,
        "subject": sample.subject,
        "clip": sample.clip,
        "emotion": sample.emotion,
        "action_units": sample.action_units,
        "onset": sample.onset,
        "offset": sample.offset,
    }


def sample_to_row(sample: Sample) -> dict[str, Any]:
    """A Sample as a plain dict (what Ray Data's ``from_items`` carries to the workers)."""
    return {
        **_sample_fields(sample),
        "apex": -1 if sample.apex is None else sample.apex,
        "frames": list(sample.frames),
        "frame_numbers": list(sample.frame_numbers),
        "label": -1 if sample.label is None else sample.label,
    }


def row_to_sample(row: dict[str, Any]) -> Sample:
    """Inverse of :func:`sample_to_row`."""
    apex = int(row["apex"])
    label = int(row["label"])
    return Sample(
        dataset=str(row["dataset"]),
        subject=str(row["subject"]),
        clip=str(row["clip"]),
        emotion=str(row["emotion"]),
        onset=int(row["onset"]),
        apex=None if apex < 0 else apex,
        offset=int(row["offset"]),
        frames=tuple(str(p) for p in row["frames"]),
        frame_numbers=tuple(int(n) for n in row["frame_numbers"]),
        action_units=str(row["action_units"]),
        label=None if label < 0 else label,
    )


def _row_base(sample: Sample, face_size: int) -> dict[str, Any]:
    """What every shard row records of its sample, processed or rejected."""
    return {**_sample_fields(sample), "label": sample.label, "annotated_apex": sample.apex, "face_size": face_size}


def rejected_row(sample: Sample, face_size: int, stage: str, reason: str, path: str = "") -> dict[str, Any]:
    """The shard row of a clip the pipeline could not process (arrays null; stage, reason and file recorded)."""
    return {**_row_base(sample, face_size), "status": REJECTED, "stage": stage, "reason": reason, "path": path}


def processed_row(sample: Sample, face_size: int, features: Any) -> dict[str, Any]:
    """The shard row of a processed clip; ``features`` is a ``preprocessing.vision.clip.ClipFeatures``."""
    sequence = getattr(features, "sequence", None)  # (T, s, s) uint8 or None
    extra = {} if sequence is None else {SEQUENCE: sequence, "sequence_frames": sequence.shape[0],
                                         "sequence_size": sequence.shape[1]}
    return {
        **_row_base(sample, face_size),
        "status": OK,
        "apex": features.apex,
        "apex_spotted": features.apex_spotted,
        "eye_angle_deg": features.angle,
        "faces_found": features.faces_found,
        "warnings": list(features.warnings),
        "flow": np.ascontiguousarray(np.moveaxis(features.features, -1, 0)),  # (S, S, 4) -> (4, S, S)
        "onset_face": features.onset_face,
        "apex_face": features.apex_face,
        "mask": features.mask,
        "landmarks": features.landmarks,
        **extra,
    }


def _fixed_list(values: list[np.ndarray | None], dtype: pa.DataType, width: int) -> pa.Array:
    """A fixed-size list array from per-row arrays of ``width`` values (None -> null row)."""
    numpy_dtype = np.dtype(dtype.to_pandas_dtype())
    chunks = []
    for v in values:
        if v is not None and np.size(v) != width:
            raise ValueError(f"array of {np.size(v)} values where the shard schema expects {width}")
        chunks.append(np.zeros(width, numpy_dtype) if v is None else np.asarray(v, numpy_dtype).reshape(-1))
    flat = np.concatenate(chunks) if chunks else np.zeros(0, numpy_dtype)
    nulls = pa.array([v is None for v in values], type=pa.bool_())
    return pa.FixedSizeListArray.from_arrays(pa.array(flat, type=dtype), width, mask=nulls)


def rows_to_table(rows: list[dict[str, Any]], size: int, sequence: tuple[int, int] | None = None) -> pa.Table:
    """Build a shard table from result rows (dicts with the schema's fields; arrays as numpy, None if rejected).

    ``sequence``: ``(frames, side)`` when the shard stores frame sequences (every processed row must carry one).
    """
    schema = shard_schema(size, sequence)
    if sequence is not None:
        lacking = [row.get("sample_id") for row in rows if row.get("status") == OK and row.get(SEQUENCE) is None]
        if lacking:
            raise ValueError(f"{len(lacking)} processed rows carry no frame sequence although the shard stores "
                             f"{sequence[0]}-frame sequences (e.g. {lacking[:3]})")
    columns = []
    for field in schema:
        values = [row.get(field.name) for row in rows]
        if field.name in ARRAYS or field.name in OPTIONAL_ARRAYS:
            columns.append(_fixed_list(values, field.type.value_type, field.type.list_size))
        else:
            columns.append(pa.array(values, type=field.type))
    return pa.Table.from_arrays(columns, schema=schema)


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


def row_bytes(size: int, sequence: tuple[int, int] | None = None) -> int:
    """Bytes of one clip's stored arrays in a shard of faces of ``size`` px (Parquet adds a few percent)."""
    schema = shard_schema(size, sequence)
    return sum(f.type.list_size * f.type.value_type.bit_width // 8 for f in schema
               if isinstance(f.type, pa.FixedSizeListType))


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


def write_rejects(out: Path, exclusions: Iterable[Exclusion], pipeline_rejects: pa.Table) -> int:
    """Write ``rejects.parquet`` (dataset, subject, clip, sample_id, stage, reason, path); returns its row count."""
    rows = [
        {
            "sample_id": e.sample_id,
            "dataset": e.dataset,
            "subject": e.subject,
            "clip": e.clip,
            "stage": e.stage,
            "reason": e.reason,
            "path": e.path,
        }
        for e in exclusions
    ]
    for r in pipeline_rejects.to_pylist():
        rows.append({k: r.get(k) or "" for k in REJECT_COLUMNS})
    schema = pa.schema([(k, pa.string()) for k in REJECT_COLUMNS])
    table = pa.Table.from_pylist(rows, schema=schema)
    atomic_write_parquet(table, Path(out) / REJECTS)
    return len(rows)


def atomic_write_parquet(table: pa.Table, path: Path) -> None:
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)


def atomic_write_json(data: dict[str, Any], path: Path) -> None:
    write_json(path, data)


HASHED_COLUMNS = ("sample_id", "status", "label", "apex", "flow", "onset_face", "apex_face", "mask")


def write_feature_set(features: Any, out: str | Path, manifest: dict[str, Any] | None = None) -> Path:
    """Write an in-memory ``FeatureSet`` (synthetic data, a benchmark's) as a features folder without the pipeline:
    one shard through this module's schema and a manifest with ``manifest`` added; frame sequences are stored when
    ``features`` has them. Returns ``out``."""
    import types

    out = Path(out)
    (out / SHARDS_DIR).mkdir(parents=True)
    rows = []
    for i, r in enumerate(features.meta.itertuples()):
        sample = Sample(r.dataset, r.subject, r.clip, r.emotion, int(r.onset), int(r.apex), int(r.offset),
                        ("/nowhere/img.jpg",), (int(r.onset),), getattr(r, "action_units", ""), int(r.label))
        stored = types.SimpleNamespace(
            apex=int(r.apex), apex_spotted=False, angle=0.0, faces_found=1, warnings=(),
            features=np.moveaxis(features.flow[i], 0, -1), onset_face=features.apex_face[i],
            apex_face=features.apex_face[i], mask=features.mask[i],
            landmarks=np.zeros((68, 2), np.float32) if features.landmarks is None else features.landmarks[i],
            sequence=None if features.sequence is None else features.sequence[i])
        rows.append(processed_row(sample, features.size, stored))
    sequence = None if features.sequence is None else (features.sequence.shape[1], features.sequence.shape[-1])
    atomic_write_parquet(rows_to_table(rows, features.size, sequence), out / SHARDS_DIR / "0.parquet")
    ids = sorted(features.meta["sample_id"])
    atomic_write_json({"sample_ids": ids, "samples": len(ids), "content_hash": content_hash(out, ids),
                       "face_size": features.size, **(manifest or {})}, out / MANIFEST)
    return out


def content_hash(out: Path, sample_ids: Iterable[str]) -> str:
    """sha256 of the clips ``sample_ids`` in ``out``'s shards: id, status, label, apex and every stored array.

    Independent of how the rows are split into files and of their order; streamed one shard at a time, so the
    driver never holds the whole feature set. A stored frame sequence is hashed too (after the other columns,
    so a folder without one keeps the hash it had before sequences existed).
    """
    wanted = set(sample_ids)
    rows: dict[str, str] = {}
    for path in valid_shards(out):
        columns = [*HASHED_COLUMNS, *(c for c in OPTIONAL_ARRAYS if c in pq.read_schema(path).names)]
        table = pq.read_table(path, columns=columns)
        for i, sample_id in enumerate(table.column("sample_id").to_pylist()):
            if sample_id not in wanted or sample_id in rows:
                continue
            digest = hashlib.sha256()
            for name in columns:
                value = table.column(name)[i]
                if isinstance(value, pa.FixedSizeListScalar):
                    values = value.values
                    digest.update(b"\0" if values is None else np.asarray(values).tobytes())
                else:
                    digest.update(repr(value.as_py()).encode())
            rows[sample_id] = digest.hexdigest()
    total = hashlib.sha256()
    for sample_id in sorted(rows):
        total.update(f"{sample_id}:{rows[sample_id]};".encode())
    return total.hexdigest()


def read_manifest(out: Path) -> dict[str, Any] | None:
    path = Path(out) / MANIFEST
    if not path.is_file():
        return None
    return json.loads(path.read_text())
