"""Atomic writes: all or nothing, no temporary file left behind."""

import json

import pytest

from mer_ray.infra.atomic import atomic_path, write_json, write_text


def test_a_write_replaces_the_file_whole_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "sub" / "run.json"
    write_json(target, {"b": 1, "a": [1, 2]})
    assert json.loads(target.read_text()) == {"a": [1, 2], "b": 1}
    assert target.read_text().index('"a"') < target.read_text().index('"b"')  # sorted keys by default
    write_text(target, "second")
    assert target.read_text() == "second" and [p.name for p in target.parent.iterdir()] == ["run.json"]


def test_a_failed_block_keeps_the_old_file_and_removes_the_temporary(tmp_path):
    target = tmp_path / "report.md"
    write_text(target, "old")
    with pytest.raises(RuntimeError, match="disk full"):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("disk full")
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["report.md"]
