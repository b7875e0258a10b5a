"""The shard contract: rows written with the schema read back by the reader, in the order asked, arrays intact."""

from __future__ import annotations

import types

import numpy as np
import pyarrow.parquet as pq
import pytest

from preprocessing.annotations.sample import Sample
from preprocessing.features import shard_rows, shard_schema, shard_writer, shards
from preprocessing.features.content_hash import content_hash

SIZE = 8


def _sample(subject: str, clip: str, label: int) -> Sample:
    return Sample("demo", f"demo/{subject}", clip, "happiness", 10, 12, 15, ("/a.jpg",), (10,), "6+R12", label)


def _features(rng: np.random.Generator, sample: Sample):
    return types.SimpleNamespace(
        apex=12, apex_spotted=False, angle=0.5, faces_found=1, warnings=(),
        features=rng.normal(size=(SIZE, SIZE, 4)).astype(np.float32),  # (S, S, 4) as process_clip returns it
        onset_face=rng.integers(0, 255, (SIZE, SIZE), dtype=np.uint8),
        apex_face=rng.integers(0, 255, (SIZE, SIZE), dtype=np.uint8),
        mask=rng.integers(0, 2, (SIZE, SIZE), dtype=np.uint8),
        landmarks=rng.normal(size=(68, 2)).astype(np.float32),
    )


@pytest.fixture
def folder(tmp_path):
    rng = np.random.default_rng(0)
    samples = [_sample(f"sub{i:02d}", f"EP0{i}", i % 3) for i in range(5)]
    stored = {s.sample_id: _features(rng, s) for s in samples[:4]}
    rows = [shard_rows.processed_row(s, SIZE, stored[s.sample_id]) for s in samples[:4]]
    rows.append(shard_rows.rejected_row(samples[4], SIZE, "detect", "no face found", "/x/img10.jpg"))
    (tmp_path / shards.SHARDS_DIR).mkdir()
    # two shards, the second repeating a clip (as an interrupted run can leave)
    pq.write_table(shard_rows.rows_to_table(rows[:3], SIZE), tmp_path / shards.SHARDS_DIR / "a.parquet")
    pq.write_table(shard_rows.rows_to_table([rows[2], *rows[3:]], SIZE), tmp_path / shards.SHARDS_DIR / "b.parquet")
    return tmp_path, samples, stored


def test_meta_holds_processed_clips_once_sorted(folder):
    out, samples, stored = folder
    meta = shards.read_meta(out)
    assert meta.column_names == list(shard_schema.META_COLUMNS)
    assert meta.column("sample_id").to_pylist() == sorted(stored)
    assert shards.read_meta(out, [samples[1].sample_id]).column("sample_id").to_pylist() == [samples[1].sample_id]
    assert set(meta.column("action_units").to_pylist()) == {"6+R12"}  # the sheet's AU codes, as written


def test_a_schema_1_folder_reads_with_blank_au_codes_and_refuses_new_shards(folder):
    from preprocessing.features.pipeline import PipelineError, check_output_folder
    from preprocessing.vision.clip import PreprocessConfig

    out, _, stored = folder
    for path in (out / shards.SHARDS_DIR).glob("*.parquet"):  # what mer-ray wrote before the AU column
        pq.write_table(pq.read_table(path).drop_columns(["action_units"]), path)
    meta = shards.read_meta(out)
    assert meta.column_names == list(shard_schema.META_COLUMNS)
    assert meta.column("action_units").to_pylist() == [""] * len(stored)
    shard_writer.atomic_write_json({"schema_version": 1, "sample_ids": sorted(stored)}, out / shards.MANIFEST)
    with pytest.raises(PipelineError, match="layout 1 .* delete that folder to rebuild it"):
        check_output_folder(out, PreprocessConfig())


def test_arrays_come_back_in_the_order_asked(folder):
    out, samples, stored = folder
    order = [samples[3].sample_id, samples[0].sample_id]
    arrays, size = shards.read_arrays(out, order, ("flow", "mask", "landmarks"))
    assert size == SIZE
    assert (arrays["flow"].shape == (2, len(shard_schema.FLOW_CHANNELS), SIZE, SIZE)
            and arrays["flow"].dtype == np.float32)
    for i, sample_id in enumerate(order):
        np.testing.assert_array_equal(arrays["flow"][i], np.moveaxis(stored[sample_id].features, -1, 0))
        np.testing.assert_array_equal(arrays["mask"][i], stored[sample_id].mask)
        np.testing.assert_array_equal(arrays["landmarks"][i], stored[sample_id].landmarks)


def test_status_keeps_the_reject_reason(folder):
    out, samples, _ = folder
    table = shards.read_status(out, [s.sample_id for s in samples])
    rejected = table.filter(~np.asarray(shards.is_processed(table))).to_pylist()
    assert [(r["sample_id"], r["stage"], r["reason"]) for r in rejected] == [
        (samples[4].sample_id, "detect", "no face found")]


def test_reader_refuses_what_is_not_stored(folder):
    out, samples, _ = folder
    with pytest.raises(ValueError, match="not stored as processed"):
        shards.read_arrays(out, [samples[0].sample_id, samples[4].sample_id])  # the second was rejected
    with pytest.raises(ValueError, match="unknown stored arrays"):
        shards.read_arrays(out, [samples[0].sample_id], ("optical_flow",))


FRAMES, SIDE = 5, 6


def _with_sequence(rng: np.random.Generator, sample: Sample):
    features = _features(rng, sample)
    features.sequence = rng.integers(0, 255, (FRAMES, SIDE, SIDE), dtype=np.uint8)
    return features


@pytest.fixture
def sequence_folder(tmp_path):
    rng = np.random.default_rng(1)
    samples = [_sample(f"sub{i:02d}", f"EP0{i}", i % 3) for i in range(3)]
    stored = {s.sample_id: _with_sequence(rng, s) for s in samples[:2]}
    rows = [shard_rows.processed_row(s, SIZE, stored[s.sample_id]) for s in samples[:2]]
    rows.append(shard_rows.rejected_row(samples[2], SIZE, "detect", "no face found"))
    (tmp_path / shards.SHARDS_DIR).mkdir()
    pq.write_table(shard_rows.rows_to_table(rows, SIZE, (FRAMES, SIDE)), tmp_path / shards.SHARDS_DIR / "a.parquet")
    return tmp_path, samples, stored


def test_sequences_are_stored_and_read_back_in_the_order_asked(sequence_folder):
    out, samples, stored = sequence_folder
    assert shards.stored_arrays(out) == (*shard_schema.ARRAYS, "sequence")
    order = [samples[1].sample_id, samples[0].sample_id]
    arrays, _ = shards.read_arrays(out, order, ("mask", "sequence"))
    assert arrays["sequence"].shape == (2, FRAMES, SIDE, SIDE) and arrays["sequence"].dtype == np.uint8
    for i, sample_id in enumerate(order):
        np.testing.assert_array_equal(arrays["sequence"][i], stored[sample_id].sequence)
        np.testing.assert_array_equal(arrays["mask"][i], stored[sample_id].mask)
    table = pq.read_table(out / shards.SHARDS_DIR / "a.parquet")  # plain pyarrow reads it
    assert table.column("sequence_frames").to_pylist() == [FRAMES, FRAMES, None]


def test_a_folder_without_sequences_says_so(folder):
    out, samples, _ = folder
    assert shards.stored_arrays(out) == tuple(shard_schema.ARRAYS)
    assert "sequence" not in pq.read_schema(sorted((out / shards.SHARDS_DIR).glob("*.parquet"))[0]).names
    with pytest.raises(ValueError, match="the shards store no sequence"):
        shards.read_arrays(out, [samples[0].sample_id], ("flow", "sequence"))


def test_a_processed_row_without_its_sequence_is_refused():
    rng = np.random.default_rng(2)
    sample = _sample("sub01", "EP01", 0)
    row = shard_rows.processed_row(sample, SIZE, _features(rng, sample))  # no sequence
    with pytest.raises(ValueError, match="carry no frame sequence"):
        shard_rows.rows_to_table([row], SIZE, (FRAMES, SIDE))
    assert "sequence" not in shard_rows.rows_to_table([row], SIZE).column_names


def test_the_content_hash_covers_the_sequence(sequence_folder, tmp_path):
    out, samples, stored = sequence_folder
    ids = [s.sample_id for s in samples]
    changed = tmp_path / "changed"
    (changed / shards.SHARDS_DIR).mkdir(parents=True)
    stored[samples[0].sample_id].sequence[0, 0, 0] ^= 1
    rows = [shard_rows.processed_row(s, SIZE, stored[s.sample_id]) for s in samples[:2]]
    rows.append(shard_rows.rejected_row(samples[2], SIZE, "detect", "no face found"))
    pq.write_table(shard_rows.rows_to_table(rows, SIZE, (FRAMES, SIDE)), changed / shards.SHARDS_DIR / "a.parquet")
    assert content_hash(out, ids) != content_hash(changed, ids)
