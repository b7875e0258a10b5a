"""Writing a features folder's files: the rejects table, atomic Parquet / JSON writes, and a whole folder from an
in-memory ``FeatureSet`` without the pipeline."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from mer_ray.infra.atomic import atomic_path, write_json
from preprocessing.annotations.sample import Exclusion, Sample
from preprocessing.features.content_hash import content_hash
from preprocessing.features.shard_rows import processed_row, rows_to_table
from preprocessing.features.shard_schema import REJECT_COLUMNS
from preprocessing.features.shards import MANIFEST, REJECTS, SHARDS_DIR


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
