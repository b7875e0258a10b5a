"""Integrity of a features folder: each shard's row count and checksum in the manifest, verified on every read.

``manifest.json`` records, under ``"shards"``, one ``{"file", "rows", "bytes", "sha256"}`` per Parquet shard.
:func:`verify` compares the folder with it and names every missing, truncated, corrupt (checksum differs) or
unexpected (not in the manifest) shard. ``mer_ray.data.features.load_features`` refuses a folder with any problem;
``python -m preprocessing run`` moves the bad shards to ``OUT/damaged/`` and recomputes their clips.

Manifests written before the records existed (no ``"shards"`` key) are checked by what they allow: every shard's
Parquet footer reads and every clip of ``sample_ids`` has a row. ``preprocessing run`` on such a folder adds the
records when that check passes (the shards are not rewritten).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from mer_ray.infra.hashing import file_sha256
from preprocessing.annotations.datasets import demo_dataset_flags, only_demo
from preprocessing.features import shards

RECORDS = "shards"  # manifest key of the per-shard records
DAMAGED_DIR = "damaged"  # where `preprocessing run` moves bad shards before recomputing their clips


@dataclass(frozen=True)
class ShardProblem:
    """One shard that does not match the manifest; ``file`` is relative to the features folder."""

    file: str
    problem: str  # "missing", "truncated or unreadable", "checksum differs", "unexpected", ...

    def __str__(self) -> str:
        return f"{self.file} ({self.problem})"


def _rel(path: Path) -> str:
    return f"{shards.SHARDS_DIR}/{path.name}"


def shard_files(out: Path) -> list[Path]:
    """The Parquet shards of ``out`` (temporary files of an atomic write excluded)."""
    folder = Path(out) / shards.SHARDS_DIR
    return sorted(folder.glob("*.parquet")) if folder.is_dir() else []


def shard_records(out: Path) -> list[dict[str, Any]]:
    """What the manifest records of every shard of ``out``: file (relative), rows, bytes, sha256."""
    return [{"file": _rel(path), "rows": pq.read_metadata(path).num_rows, "bytes": path.stat().st_size,
             "sha256": file_sha256(path)} for path in shard_files(out)]


def _rows(path: Path) -> int | None:
    try:
        return pq.read_metadata(path).num_rows
    except (OSError, pa.ArrowException):
        return None


def verify(out: Path, manifest: dict[str, Any]) -> list[ShardProblem]:
    """Every shard of ``out`` that does not match ``manifest`` (empty: the folder is intact)."""
    out = Path(out)
    records = manifest.get(RECORDS)
    if records is None:
        return _verify_legacy(out, manifest)
    problems = []
    listed = {record["file"]: record for record in records}
    for name, record in listed.items():
        path = out / name
        if not path.is_file():
            problems.append(ShardProblem(name, "missing"))
            continue
        if path.stat().st_size == record.get("bytes") and file_sha256(path) == record["sha256"]:
            continue
        rows = _rows(path)
        if rows is None:
            problems.append(ShardProblem(name, "truncated or unreadable"))
        elif rows != record["rows"]:
            problems.append(ShardProblem(name, f"{rows} rows, the manifest records {record['rows']}"))
        else:
            problems.append(ShardProblem(name, "checksum differs from the manifest: changed after it was written"))
    for path in shard_files(out):
        if _rel(path) not in listed:
            problems.append(ShardProblem(_rel(path), "unexpected: not in the manifest"))
    return problems


def _verify_legacy(out: Path, manifest: dict[str, Any]) -> list[ShardProblem]:
    """A manifest without shard records: footers must read and every manifest clip must have a row."""
    problems, present = [], set()
    for path in shard_files(out):
        if _rows(path) is None:
            problems.append(ShardProblem(_rel(path), "truncated or unreadable"))
            continue
        present.update(pq.read_table(path, columns=["sample_id"]).column("sample_id").to_pylist())
    missing = sorted(set(manifest.get("sample_ids", [])) - present)
    if missing:
        problems.append(ShardProblem(f"{shards.SHARDS_DIR}/", f"{len(missing)} clips of the manifest are in no "
                                                             f"shard (e.g. {missing[0]}): a shard is missing"))
    return problems


def describe(out: Path, problems: list[ShardProblem]) -> str:
    """One line naming the bad shards (at most three, then a count)."""
    shown = ", ".join(str(p) for p in problems[:3])
    more = f" and {len(problems) - 3} more" if len(problems) > 3 else ""
    return f"{out}: {len(problems)} shard{'s' if len(problems) != 1 else ''} damaged: {shown}{more}"


def quarantine(out: Path, problems: list[ShardProblem]) -> list[Path]:
    """Move the existing bad shards of ``problems`` to ``OUT/damaged/`` (nothing is deleted); returns the moves."""
    moved = []
    for problem in problems:
        path = Path(out) / problem.file
        if not path.is_file():
            continue
        target = Path(out) / DAMAGED_DIR / path.name
        target.parent.mkdir(exist_ok=True)
        path.replace(target)
        moved.append(target)
    return moved


def repair_command(manifest: dict[str, Any], out: Path) -> str:
    """The ``python -m preprocessing run`` command that verifies ``out`` and recomputes its bad shards' clips.

    Rebuilt from the manifest's provenance (datasets, protocol, face size, stored sequence, smoke test) so that
    the configuration hash matches and the run repairs the folder instead of refusing it.
    """
    parts = ["python -m preprocessing run"]
    datasets = manifest.get("datasets") or {}
    roots = {name: root for name, root in datasets.items() if root != "built-in demo"}
    if not only_demo(datasets) or roots:
        if manifest.get("protocol"):
            parts.append(f"--protocol {manifest['protocol']}")
        parts += [f"--dataset {name}={root}" for name, root in datasets.items() if root != "built-in demo"]
    else:
        parts += demo_dataset_flags(datasets)
    if manifest.get("face_size", 224) != 224:
        parts.append(f"--face-size {manifest['face_size']}")
    sequence = (manifest.get("config") or {}).get("sequence") or {}
    if sequence and (sequence.get("frames", 8), sequence.get("size", 64)) != (8, 64):
        parts.append(f"--sequence-frames {sequence.get('frames', 8)} --sequence-size {sequence.get('size', 64)}")
    if manifest.get("smoke_test"):
        parts.append("--smoke-test")
    parts.append(f"--out {out}")
    return " ".join(parts)
