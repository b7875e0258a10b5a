"""The preprocessing pipeline on Ray Data: samples -> aligned faces + TV-L1 flow features -> Parquet shards.

``from_items(samples)`` -> ``map_batches(ClipProcessor)`` (an actor pool: dlib's models load once per actor)
-> ``write_parquet``. Re-running into the same folder only processes the clips that are missing; a run with a
different configuration is refused. ``manifest.json`` is written last and marks a complete run; it records every
shard's row count and checksum (``integrity.py``). A re-run first verifies the folder: missing, truncated, corrupt
or unexpected shards are moved to ``OUT/damaged/`` and only their clips are recomputed. One process at a time
writes a folder (``OUT/.lock``); a second one waits, saying so. A full disk ends the run with one line (where, the
space free and still needed; :func:`disk_full_error`) after removing the shard it cut short; the whole shards stay,
and the same command resumes once there is space.

Actors open the frames by absolute path and write tasks write the shards, on any node: on a multi-node cluster
the dataset folders and ``out`` must be on storage every node sees (``cluster/README.md``).
"""

from __future__ import annotations

import errno
import logging
import math
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from mer_ray.infra.locks import exclusive
from preprocessing.annotations.sample import Exclusion, Sample
from preprocessing.features import integrity, progress, shard_rows, shard_schema, shard_writer, shards
from preprocessing.features.content_hash import content_hash
from preprocessing.vision.clip import ClipRejected, PreprocessConfig, process_clip

log = logging.getLogger(__name__)


class PipelineError(RuntimeError):
    """The pipeline cannot run or produced nothing usable; the message says what to do."""


@dataclass(frozen=True)
class ActorPool:
    """Size of the ``ClipProcessor`` pool: fixed when ``min_size == max_size``, else Ray Data autoscales it."""

    min_size: int
    max_size: int
    cpus: float  # CPUs reserved per actor


def plan_actor_pool(
    cluster_cpus: float,
    blocks: int,
    *,
    elastic: bool,
    num_actors: int | None = None,
    actor_cpus: float | None = None,
) -> ActorPool:
    """Choose the actor pool for ``blocks`` blocks on a cluster that has ``cluster_cpus`` CPUs right now.

    Args:
        cluster_cpus: CPUs of the cluster when the run starts (0 on an autoscaling cluster's head alone).
        blocks: blocks to process; one actor works on one block at a time, so more actors than blocks idle.
        elastic: the cluster can grow (joined with an address, several nodes, or no CPUs yet): the pool
            autoscales from the actors that fit now up to one per block, so Ray Data (and Ray's autoscaler)
            add actors as nodes arrive instead of keeping the size seen at start.
        num_actors: a fixed pool of this size, whatever the cluster.
        actor_cpus: CPUs per actor; default 1 where the cluster has spare CPUs for the write tasks, else 0.5
            (on 2 CPUs, 2 actors x 1 CPU starve the write tasks and hang).
    """
    fits_now = max(1, min(int(cluster_cpus), blocks))
    if num_actors:
        low = high = num_actors
    elif elastic:
        low, high = fits_now, max(fits_now, blocks)
    else:
        low = high = fits_now
    cpus = actor_cpus if actor_cpus is not None else (1.0 if cluster_cpus > low else 0.5)
    return ActorPool(low, high, cpus)


def cluster_can_grow(cluster_cpus: float) -> bool:
    """Whether this driver runs on a cluster that may gain nodes (see :func:`plan_actor_pool`)."""
    import ray

    from mer_ray.infra.runtime import joined_existing_cluster

    alive = sum(1 for node in ray.nodes() if node.get("Alive"))
    return joined_existing_cluster() or alive > 1 or cluster_cpus == 0


@dataclass(frozen=True)
class PipelineSummary:
    out: Path
    total: int
    processed: int
    rejected: int
    excluded_before: int
    newly_processed: int
    seconds: float
    manifest: dict[str, Any]
    repaired: tuple[str, ...] = ()  # the damaged shards found (and replaced) by this run, as "file (problem)"


class ClipProcessor:
    """Ray Data actor: holds one dlib detector + predictor and turns batches of sample rows into shard rows."""

    def __init__(self, config: dict[str, Any], counter: Any = None):
        import cv2
        import ray

        from preprocessing.vision.alignment import FaceAligner

        cv2.setNumThreads(1)  # parallelism comes from the actor pool; OpenCV threads would oversubscribe
        self.config = PreprocessConfig.from_dict(config)
        self.aligner = FaceAligner(self.config.align)
        self.config_hash = self.config.config_hash()
        self.node_id = ray.get_runtime_context().get_node_id()
        self.counter = counter  # a ``progress.ClipCounter`` handle, or None

    def __call__(self, batch: pa.Table) -> pa.Table:
        rows = []
        for row in batch.to_pylist():
            rows.append(process_row(row, self.config, self.aligner))
            progress.report(self.counter, rows[-1])
        table = shard_rows.rows_to_table(rows, self.config.align.size, self.config.sequence.shape)
        # provenance, outside the shard schema: the Ray node that processed each clip
        return table.append_column("node_id", pa.array([self.node_id] * len(table), pa.string()))


def process_row(row: dict[str, Any], config: PreprocessConfig, aligner: Any) -> dict[str, Any]:
    """One sample row -> one shard row; any failure becomes a rejected row with its stage and reason."""
    sample = shard_rows.row_to_sample(row)
    try:
        features = process_clip(sample, config, aligner)
    except ClipRejected as err:
        return shard_rows.rejected_row(sample, config.align.size, err.stage, err.reason, err.path or "")
    except Exception as err:  # a bug or an unforeseen input must not lose the other clips' work
        log.exception("unexpected error on %s", sample.sample_id)
        return shard_rows.rejected_row(sample, config.align.size, "unexpected", f"{type(err).__name__}: {err}")
    return shard_rows.processed_row(sample, config.align.size, features)


def check_output_folder(out: Path, config: PreprocessConfig) -> dict[str, Any] | None:
    """Refuse an output folder written with another configuration; returns its manifest if complete."""
    wanted = config.config_hash()
    marker = out / "config.json"
    if marker.is_file():
        import json

        existing = json.loads(marker.read_text())
        if existing.get("config_hash") != wanted:
            raise PipelineError(
                f"{out} holds features made with another preprocessing configuration "
                f"(config hash {existing.get('config_hash')}, this run's is {wanted}); "
                "choose another --out, or delete that folder to rebuild it"
            )
    manifest = shards.read_manifest(out)
    schema = (manifest or {}).get("schema_version", shard_schema.SCHEMA_VERSION)
    if schema != shard_schema.SCHEMA_VERSION:  # new shards would not concatenate with the old ones
        raise PipelineError(
            f"{out} holds shards of layout {schema} (an older mer-ray); this version writes layout "
            f"{shard_schema.SCHEMA_VERSION}, which adds the sheet's action-unit codes. It still reads as it is; to add "
            "to it or repair it, choose another --out, or delete that folder to rebuild it"
        )
    return manifest


def run_pipeline(
    samples: Sequence[Sample],
    out: Path,
    config: PreprocessConfig | None = None,
    *,
    exclusions: Sequence[Exclusion] = (),
    provenance: dict[str, Any] | None = None,
    num_actors: int | None = None,
    actor_cpus: float | None = None,
    clips_per_block: int = 8,
) -> PipelineSummary:
    """Process ``samples`` into ``out`` (Parquet shards, rejects table, manifest). Ray must be initialised.

    Args:
        samples: labelled samples (a protocol's selection).
        out: output folder; made absolute here because Ray workers run elsewhere.
        config: preprocessing configuration (defaults: :class:`PreprocessConfig`).
        exclusions: clips the adapters / protocol already left out; they go into ``rejects.parquet``.
        provenance: extra facts for the manifest (datasets and roots, protocol name).
        num_actors: a fixed actor pool of this size; default: one per CPU of the cluster (at most one per block),
            autoscaling up to one per block where the cluster can grow (:func:`plan_actor_pool`).
        actor_cpus: CPUs reserved per actor (default: :func:`plan_actor_pool`).
        clips_per_block: clips per Ray Data block; each finished block is a shard, so smaller blocks lose less
            work to a kill, larger ones cost less overhead.
    """
    if not samples:
        raise PipelineError("no samples to process: the dataset scan and protocol selected nothing")
    config = config or PreprocessConfig()
    out = Path(out).expanduser().resolve()
    start = time.monotonic()
    duplicates = len(samples) - len({s.sample_id for s in samples})
    if duplicates:
        raise PipelineError(f"{duplicates} duplicate sample ids in the selection; adapters should have excluded them")

    out.mkdir(parents=True, exist_ok=True)
    with exclusive(out / LOCK, f"preprocessing into {out}"):
        return _run_locked(samples, out, config, start, exclusions=exclusions, provenance=provenance,
                           num_actors=num_actors, actor_cpus=actor_cpus, clips_per_block=clips_per_block)


LOCK = ".lock"  # inside the features folder: held by the one process writing it


def _run_locked(samples: Sequence[Sample], out: Path, config: PreprocessConfig, start: float, *,
                exclusions: Sequence[Exclusion], provenance: dict[str, Any] | None, num_actors: int | None,
                actor_cpus: float | None, clips_per_block: int) -> PipelineSummary:
    """:func:`run_pipeline` holding the folder's lock: verify the folder (moving damaged shards away), process the
    clips it lacks, then write the rejects table and, last, the manifest."""
    manifest = check_output_folder(out, config)
    wanted_ids = sorted(s.sample_id for s in samples)
    problems = integrity.verify(out, manifest) if manifest else []
    if problems:
        log.warning(integrity.describe(out, problems))
        integrity.quarantine(out, problems)
    elif manifest and manifest.get("sample_ids") == wanted_ids:
        if integrity.RECORDS not in manifest:  # an older manifest that passed the row check: record the shards
            manifest = {**manifest, integrity.RECORDS: integrity.shard_records(out)}
            shard_writer.atomic_write_json(manifest, out / shards.MANIFEST)
        log.info("%s is up to date (%d clips, config %s): nothing to do", out, len(samples), manifest["config_hash"])
        return _summary(out, manifest, newly=0, seconds=time.monotonic() - start)

    stage = "writing config.json"
    try:
        (out / shards.SHARDS_DIR).mkdir(parents=True, exist_ok=True)
        shard_writer.atomic_write_json({"config_hash": config.config_hash(), "config": config.to_dict()},
                                 out / "config.json")
        (out / shards.MANIFEST).unlink(missing_ok=True)  # the manifest is rewritten when this run completes

        done = shards.done_sample_ids(out)
        todo = [s for s in samples if s.sample_id not in done]
        if todo:
            stage = "writing the feature shards"
            _process_clips(todo, len(done), out, config, num_actors=num_actors, actor_cpus=actor_cpus,
                           clips_per_block=clips_per_block)
        stage = "writing rejects.parquet and manifest.json"
        manifest = _finish_run(out, config, wanted_ids, exclusions, provenance)
    except Exception as err:
        if not is_disk_full(err):
            raise
        raise disk_full_error(out, stage, wanted_ids, config) from err
    return _summary(out, manifest, newly=len(todo), seconds=time.monotonic() - start,
                    repaired=tuple(str(p) for p in problems))


def _process_clips(todo: Sequence[Sample], already: int, out: Path, config: PreprocessConfig, *,
                   num_actors: int | None, actor_cpus: float | None, clips_per_block: int) -> None:
    """Run the ``todo`` clips through a ``ClipProcessor`` actor pool on Ray Data; each block becomes a shard of
    ``out`` (``already``: the clips ``out`` holds, for the progress line)."""
    import ray

    cpus = ray.cluster_resources().get("CPU", 0)
    blocks = max(1, math.ceil(len(todo) / clips_per_block))
    pool = plan_actor_pool(cpus, blocks, elastic=cluster_can_grow(cpus), num_actors=num_actors,
                           actor_cpus=actor_cpus)
    actors = f"{pool.min_size}" if pool.min_size == pool.max_size else f"{pool.min_size} to {pool.max_size}"
    print(
        f"preprocessing {len(todo)} clips ({already} already in {out}) on {actors} actors x {pool.cpus} CPU,"
        f" {blocks} blocks",
        flush=True,
    )
    with progress.ClipProgress(len(todo)) as live:
        ds = ray.data.from_items([shard_rows.sample_to_row(s) for s in todo], override_num_blocks=blocks)
        ds = ds.map_batches(
            ClipProcessor,
            fn_constructor_kwargs={"config": config.to_dict(), "counter": live.counter},
            batch_size=None,  # a whole block per call: blocks are already sized for the actors
            batch_format="pyarrow",
            compute=ray.data.ActorPoolStrategy(min_size=pool.min_size, max_size=pool.max_size),
            num_cpus=pool.cpus,
        )
        # Flow floats barely compress (~5%): skip the codec, save the write tasks' CPU.
        ds.write_parquet(str(out / shards.SHARDS_DIR), compression="none")


def is_disk_full(err: BaseException) -> bool:
    """Whether ``err`` or an error it wraps is "no space left on device" (ENOSPC; a Ray Data write task's error
    reaches the driver as a ``RayTaskError`` whose text names it)."""
    seen: set[int] = set()
    current: BaseException | None = err
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if getattr(current, "errno", None) == errno.ENOSPC or "No space left on device" in str(current):
            return True
        current = current.__cause__ or current.__context__
    return False


def disk_full_error(out: Path, stage: str, wanted_ids: Sequence[str], config: PreprocessConfig) -> PipelineError:
    """The one-line error of a full disk: where and at which stage, the space free and still needed, the torn
    shards removed (so that the folder holds only whole shards) and what to do; the stored shards are kept."""
    torn = shards.remove_torn_shards(out)
    stored = shards.valid_shards(out)
    rows = sum(pq.read_metadata(path).num_rows for path in stored)
    size = sum(path.stat().st_size for path in stored)
    per_clip = size / rows if rows else 1.2 * shard_schema.row_bytes(config.align.size, config.sequence.shape)
    missing = len(set(wanted_ids) - shards.done_sample_ids(out))
    needed = missing * per_clip + MANIFEST_SLACK
    free = shutil.disk_usage(out).free
    removed = (f"; removed {len(torn)} incomplete shard{'s' if len(torn) != 1 else ''} "
               f"({', '.join(f'{shards.SHARDS_DIR}/{p.name}' for p in torn)})" if torn else "")
    return PipelineError(
        f"no space left on device in {out} while {stage}: {_mb(free)} free there, about {_mb(needed)} more needed "
        f"for the {missing} clips not stored yet{removed}; the {rows} clips stored are kept: free space on that disk "
        "and run the same command again (only the missing clips are computed)"
    )


MANIFEST_SLACK = 1 << 20  # bytes reserved for rejects.parquet, manifest.json and the log


def _mb(n_bytes: float) -> str:
    return f"{n_bytes / 2**20:.1f} MiB"


def _finish_run(out: Path, config: PreprocessConfig, wanted_ids: list[str], exclusions: Sequence[Exclusion],
                provenance: dict[str, Any] | None) -> dict[str, Any]:
    """Check that every wanted clip has a row, write the rejects table, then the manifest (which marks the run
    complete); returns the manifest. Raises ``PipelineError`` when a clip has no row or none was processed."""
    table = shards.read_status(out, wanted_ids)
    missing = set(wanted_ids) - set(table.column("sample_id").to_pylist())
    if missing:
        raise PipelineError(f"{len(missing)} clips have no row after the run (e.g. {sorted(missing)[:3]}); re-run")
    ok = shards.is_processed(table)
    processed = int(pc.sum(ok).as_py() or 0)
    if processed == 0:
        shard_writer.write_rejects(out, exclusions, table.filter(pc.invert(ok)))
        raise PipelineError(
            f"none of the {len(wanted_ids)} clips could be processed; see {out / shards.REJECTS} for each reason"
        )
    rejected_rows = table.filter(pc.invert(ok))
    n_rejects = shard_writer.write_rejects(out, exclusions, rejected_rows)
    manifest = {
        "schema_version": shard_schema.SCHEMA_VERSION,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "config_hash": config.config_hash(),
        "config": config.to_dict(),
        "versions": _versions(),
        "samples": len(wanted_ids),
        "processed": processed,
        "rejected": len(wanted_ids) - processed,
        "excluded_before_pipeline": len(exclusions),
        "rejects_rows": n_rejects,
        "content_hash": content_hash(out, wanted_ids),
        "sample_ids": wanted_ids,
        "face_size": config.align.size,
        "flow_channels": list(shard_schema.FLOW_CHANNELS),
        "arrays": list(shards.stored_arrays(out)),
        **(provenance or {}),
        integrity.RECORDS: integrity.shard_records(out),
    }
    shard_writer.atomic_write_json(manifest, out / shards.MANIFEST)
    return manifest


def _summary(out: Path, manifest: dict[str, Any], *, newly: int, seconds: float,
             repaired: tuple[str, ...] = ()) -> PipelineSummary:
    return PipelineSummary(
        out=out,
        total=manifest["samples"],
        processed=manifest["processed"],
        rejected=manifest["rejected"],
        excluded_before=manifest["excluded_before_pipeline"],
        newly_processed=newly,
        seconds=seconds,
        manifest=manifest,
        repaired=repaired,
    )


def _versions() -> dict[str, str]:
    import platform

    import cv2
    import dlib
    import pyarrow
    import ray

    return {
        "python": platform.python_version(),
        "opencv": cv2.__version__,
        "dlib": dlib.__version__,
        "ray": ray.__version__,
        "pyarrow": pyarrow.__version__,
        "numpy": np.__version__,
    }
