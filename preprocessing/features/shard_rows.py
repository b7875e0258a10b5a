"""Row encoding: a Sample to and from the plain dict Ray Data carries, and result rows into a typed shard table."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

from preprocessing.annotations.sample import Sample
from preprocessing.features.shard_schema import ARRAYS, OK, OPTIONAL_ARRAYS, REJECTED, SEQUENCE, shard_schema


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
