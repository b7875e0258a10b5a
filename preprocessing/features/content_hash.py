"""The content hash a manifest records: one sha256 over the stored clips, independent of how rows are sharded."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from preprocessing.features.shard_schema import OPTIONAL_ARRAYS
from preprocessing.features.shards import valid_shards

HASHED_COLUMNS = ("sample_id", "status", "label", "apex", "flow", "onset_face", "apex_face", "mask")


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
