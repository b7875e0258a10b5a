"""The Ray Data pipeline on a real local Ray cluster: shards, rejects, manifest, idempotent re-runs."""

from __future__ import annotations

import shutil

import numpy as np
import pyarrow.parquet as pq
import pytest

from preprocessing.features import shards
from preprocessing.features.pipeline import PipelineError, run_pipeline
from preprocessing.features.prepare import select_samples
from preprocessing.vision.clip import PreprocessConfig

pytestmark = pytest.mark.ray


def demo_samples(root):
    selection = select_samples([f"demo={root}"], {"demo": {"small": True}})
    return selection.protocol


@pytest.fixture(scope="module")
def processed(small_demo, tmp_path_factory, ray_local):
    result = demo_samples(small_demo)
    out = tmp_path_factory.mktemp("features")
    summary = run_pipeline(result.samples, out, exclusions=result.exclusions, clips_per_block=4)
    return result, out, summary


def test_every_clip_is_processed_or_rejected_with_a_reason(processed):
    result, out, summary = processed
    table = pq.read_table(sorted((out / "shards").glob("*.parquet")))  # plain pyarrow reads the shards
    assert sorted(table.column("sample_id").to_pylist()) == sorted(s.sample_id for s in result.samples)
    statuses = table.column("status").to_pylist()
    assert set(statuses) <= {"ok", "rejected"}
    assert summary.processed == statuses.count("ok") == len(result.samples)  # the demo is clean
    manifest = shards.read_manifest(out)
    assert manifest["processed"] == summary.processed
    assert manifest["config_hash"] == PreprocessConfig().config_hash()
    assert {"opencv", "dlib", "ray", "pyarrow"} <= set(manifest["versions"])
    assert len(manifest["content_hash"]) == 64


def test_stored_arrays_have_their_shapes_and_float_flow(processed):
    _, out, _ = processed
    table = pq.read_table(sorted((out / "shards").glob("*.parquet")))
    size = table.column("face_size")[0].as_py()
    flow = np.asarray(table.column("flow").combine_chunks().flatten()).reshape(len(table), 4, size, size)
    assert flow.dtype == np.float32
    assert np.isfinite(flow).all()
    assert np.abs(flow[:, :2]).max() > 0.3  # sub-pixel-to-pixel motion survives as floats, not 8-bit codes
    assert len(np.unique(flow[:, 0])) > 1000
    faces = np.asarray(table.column("apex_face").combine_chunks().flatten())
    assert faces.dtype == np.uint8 and faces.size == len(table) * size * size


def test_rerun_with_same_config_does_nothing_and_keeps_row_count(processed):
    result, out, summary = processed
    again = run_pipeline(result.samples, out, exclusions=result.exclusions)
    assert again.newly_processed == 0
    assert again.manifest["content_hash"] == summary.manifest["content_hash"]
    assert len(pq.read_table(sorted((out / "shards").glob("*.parquet")))) == len(result.samples)


def test_another_config_is_refused(processed):
    result, out, _ = processed
    other = PreprocessConfig.from_dict({"align": {"size": 128}})
    with pytest.raises(PipelineError, match="another preprocessing configuration"):
        run_pipeline(result.samples, out, other)


def test_interrupted_run_completes_without_duplicates(processed, tmp_path):
    """A run that died after writing some shards (one of them torn) resumes: only missing clips are redone."""
    result, out, summary = processed
    partial = tmp_path / "partial"
    shutil.copytree(out, partial)
    (partial / shards.MANIFEST).unlink()
    files = sorted((partial / "shards").glob("*.parquet"))
    files[0].unlink()  # never written
    files[1].write_bytes(files[1].read_bytes()[:100])  # torn write
    again = run_pipeline(result.samples, partial, exclusions=result.exclusions, clips_per_block=4)
    assert 0 < again.newly_processed < len(result.samples)
    ids = pq.read_table(sorted((partial / "shards").glob("*.parquet"))).column("sample_id").to_pylist()
    assert sorted(ids) == sorted(s.sample_id for s in result.samples)
    assert again.manifest["content_hash"] == summary.manifest["content_hash"]  # same features as a clean run


def test_bad_clips_are_rejected_with_stage_and_path_and_the_rest_go_on(small_demo, tmp_path, ray_local):
    root = shutil.copytree(small_demo, tmp_path / "demo")
    result = demo_samples(root)
    victim = result.samples[0]
    onset = victim.frame_path(victim.onset)
    onset.write_bytes(b"not a jpeg")
    summary = run_pipeline(result.samples, tmp_path / "out", exclusions=result.exclusions)
    assert summary.processed == len(result.samples) - 1
    rejects = pq.read_table(tmp_path / "out" / shards.REJECTS).to_pylist()
    [row] = [r for r in rejects if r["sample_id"] == victim.sample_id]
    assert row["stage"] == "read"
    assert str(onset) in row["path"]


def test_all_clips_rejected_is_a_clear_error(small_demo, tmp_path, ray_local):
    root = shutil.copytree(small_demo, tmp_path / "demo")
    result = demo_samples(root)
    for sample in result.samples:
        sample.frame_path(sample.onset).write_bytes(b"")
    with pytest.raises(PipelineError, match="none of the .* clips could be processed"):
        run_pipeline(result.samples, tmp_path / "out")
    assert (tmp_path / "out" / shards.REJECTS).is_file()


def test_no_samples_is_a_clear_error(tmp_path):
    with pytest.raises(PipelineError, match="no samples to process"):
        run_pipeline([], tmp_path)


def test_a_rerun_repairs_damaged_shards_and_recomputes_only_their_clips(processed, tmp_path):
    """One shard truncated, one changed in place: the re-run names both, moves them aside, redoes their clips."""
    from preprocessing.features import integrity

    result, out, summary = processed
    damaged = shutil.copytree(out, tmp_path / "damaged")
    first, second = sorted((damaged / "shards").glob("*.parquet"))[:2]
    lost = pq.read_metadata(first).num_rows + pq.read_metadata(second).num_rows
    first.write_bytes(first.read_bytes()[:-100])
    data = second.read_bytes()
    second.write_bytes(data[:300] + bytes([data[300] ^ 0xFF]) + data[301:])
    assert len(integrity.verify(damaged, shards.read_manifest(damaged))) == 2
    again = run_pipeline(result.samples, damaged, exclusions=result.exclusions, clips_per_block=4)
    assert again.newly_processed == lost
    assert sorted(again.repaired) == sorted([f"shards/{first.name} (truncated or unreadable)",
                                             f"shards/{second.name} (checksum differs from the manifest: changed "
                                             "after it was written)"])
    assert sorted(p.name for p in (damaged / "damaged").iterdir()) == sorted([first.name, second.name])
    assert integrity.verify(damaged, again.manifest) == []
    assert again.manifest["content_hash"] == summary.manifest["content_hash"]
    assert run_pipeline(result.samples, damaged, exclusions=result.exclusions).newly_processed == 0
