"""Shard records in the manifest: a missing, truncated, changed or unexpected shard is named, never read."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest

from mer_ray.data.features import FeaturesError, load_features
from preprocessing.features import integrity, shards
from tests.mer_ray._synthetic import synthetic_features, write_features_folder

PROVENANCE = {"protocol": "3class", "datasets": {"casme2": "/data/CASME2"}, "smoke_test": False}


def two_shard_folder(out, *, records: bool = True):
    """A synthetic features folder split into shards a.parquet and b.parquet; ``records``: the manifest has them."""
    write_features_folder(synthetic_features(n_subjects=3, clips=3, size=8), out, PROVENANCE)
    table = pq.read_table(out / "shards" / "0.parquet")
    (out / "shards" / "0.parquet").unlink()
    pq.write_table(table.slice(0, 4), out / "shards" / "a.parquet")
    pq.write_table(table.slice(4), out / "shards" / "b.parquet")
    manifest = shards.read_manifest(out)
    if records:
        manifest[integrity.RECORDS] = integrity.shard_records(out)
    (out / shards.MANIFEST).write_text(json.dumps(manifest))
    return out


def test_an_intact_folder_verifies_and_loads(tmp_path):
    out = two_shard_folder(tmp_path / "f")
    assert integrity.verify(out, shards.read_manifest(out)) == []
    assert [r["rows"] for r in shards.read_manifest(out)["shards"]] == [4, 5]
    assert len(load_features(out)) == 9


@pytest.mark.parametrize("damage, problem", [
    ("truncate", "shards/a.parquet (truncated or unreadable)"),
    ("delete", "shards/a.parquet (missing)"),
    ("flip", "shards/a.parquet (checksum differs from the manifest: changed after it was written)"),
    ("rows", "shards/a.parquet (2 rows, the manifest records 4)"),
    ("extra", "shards/c.parquet (unexpected: not in the manifest)"),
])
def test_a_damaged_shard_is_refused_with_its_name_and_the_repair_command(tmp_path, damage, problem):
    out = two_shard_folder(tmp_path / "f")
    shard = out / "shards" / "a.parquet"
    data = shard.read_bytes()
    if damage == "truncate":
        shard.write_bytes(data[: len(data) // 2])
    elif damage == "delete":
        shard.unlink()
    elif damage == "flip":  # same size, one byte changed inside the data pages
        shard.write_bytes(data[:200] + bytes([data[200] ^ 0xFF]) + data[201:])
    elif damage == "rows":
        pq.write_table(pq.read_table(shard).slice(0, 2), shard)
    else:
        (out / "shards" / "c.parquet").write_bytes(data)
    with pytest.raises(FeaturesError) as err:
        load_features(out)
    message = str(err.value)
    assert "\n" not in message
    assert f"{out}: 1 shard damaged: {problem}" in message
    assert f"`python -m preprocessing run --protocol 3class --dataset casme2=/data/CASME2 --face-size 8 --out {out}`" \
        in message


def test_an_old_manifest_without_records_is_checked_by_rows(tmp_path):
    out = two_shard_folder(tmp_path / "f", records=False)
    assert integrity.verify(out, shards.read_manifest(out)) == []
    (out / "shards" / "b.parquet").unlink()
    [problem] = integrity.verify(out, shards.read_manifest(out))
    assert "5 clips of the manifest are in no shard" in problem.problem
    with pytest.raises(FeaturesError, match="a shard is missing"):
        load_features(out)


def test_quarantine_moves_bad_shards_aside(tmp_path):
    out = two_shard_folder(tmp_path / "f")
    (out / "shards" / "a.parquet").write_bytes(b"PAR1 torn")
    problems = integrity.verify(out, shards.read_manifest(out))
    assert integrity.quarantine(out, problems) == [out / "damaged" / "a.parquet"]
    assert not (out / "shards" / "a.parquet").exists() and (out / "damaged" / "a.parquet").read_bytes() == b"PAR1 torn"


def test_repair_command_of_the_demo_keeps_smoke_test_and_sequence():
    manifest = {"datasets": {"demo": "built-in demo"}, "protocol": "3class", "smoke_test": True,
                "config": {"sequence": {"frames": 0, "size": 64}}, "face_size": 224}
    assert integrity.repair_command(manifest, "/x") == ("python -m preprocessing run --sequence-frames 0 "
                                                        "--sequence-size 64 --smoke-test --out /x")


def test_repair_and_rebuild_commands_of_the_multi_layout_demo_select_its_layouts_again():
    from mer_ray.data.features import preprocess_command

    manifest = {"datasets": {"demo-casme2": "built-in demo", "demo-samm": "built-in demo"}, "face_size": 224}
    layouts = "--dataset demo-casme2 --dataset demo-samm"
    assert integrity.repair_command(manifest, "/x") == f"python -m preprocessing run {layouts} --out /x"
    assert preprocess_command(manifest) == (f"python -m preprocessing run {layouts} --sequence-frames 8 "
                                            "--out NEW_FOLDER")
