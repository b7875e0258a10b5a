"""The shard schema: stored columns and arrays, and how a shard table is typed.

Arrays are stored as fixed-size lists so that plain ``pyarrow.parquet.read_table`` reads them (no Ray extension
types); shapes are given by the ``face_size`` column: ``flow`` is (4, S, S) float32 channels-first
[u, v, strain, magnitude], ``onset_face`` / ``apex_face`` / ``mask`` are (S, S) uint8, ``landmarks`` (68, 2)
float32 in aligned-face pixels. ``sequence`` (T, s, s) uint8, the aligned frames onset..offset, is stored only by
folders made with ``PreprocessConfig.sequence.frames > 0`` (the default); its shape is given by the
``sequence_frames`` / ``sequence_size`` columns, and folders made without it lack all three columns.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

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


def row_bytes(size: int, sequence: tuple[int, int] | None = None) -> int:
    """Bytes of one clip's stored arrays in a shard of faces of ``size`` px (Parquet adds a few percent)."""
    schema = shard_schema(size, sequence)
    return sum(f.type.list_size * f.type.value_type.bit_width // 8 for f in schema
               if isinstance(f.type, pa.FixedSizeListType))
