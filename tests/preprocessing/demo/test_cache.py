"""ensure_demo: the cache is reused while its demo.json matches, regenerated when it does not; writes are atomic."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from preprocessing.annotations.sample import DatasetError
from preprocessing.demo import (
    MANIFEST,
    SMALL_DEMO,
    VERSION,
    DemoConfig,
    default_root,
    ensure_demo,
    generate_demo,
    is_current,
    make_config,
)
from preprocessing.demo import writing as writing_module
from tests.preprocessing.demo.conftest import tree_hashes


@pytest.fixture
def demo_copy(small_demo, tmp_path) -> Path:
    return Path(shutil.copytree(small_demo, tmp_path / "copy"))


def test_second_call_reuses_the_cache(demo_copy):
    before = (demo_copy / MANIFEST).stat().st_mtime_ns
    assert ensure_demo(demo_copy, seed=0, **SMALL_DEMO) == demo_copy.resolve()
    assert (demo_copy / MANIFEST).stat().st_mtime_ns == before


def test_a_different_manifest_regenerates(demo_copy, small_demo, caplog):
    manifest = json.loads((demo_copy / MANIFEST).read_text())
    manifest["version"] = VERSION - 1  # as if made by an older generator
    (demo_copy / MANIFEST).write_text(json.dumps(manifest))
    (demo_copy / "stale-file.txt").write_text("from the old demo")
    with caplog.at_level("INFO", logger="preprocessing.demo.generate"):
        ensure_demo(demo_copy, seed=0, **SMALL_DEMO)
    assert "generating the built-in demo dataset (easy preset) into" in caplog.text and "out of date" in caplog.text
    assert tree_hashes(demo_copy) == tree_hashes(small_demo)  # a clean regeneration: the stale file is gone


def test_other_parameters_are_not_the_cached_demo(demo_copy):
    assert is_current(demo_copy, seed=0, **SMALL_DEMO)
    assert not is_current(demo_copy, seed=1, **SMALL_DEMO)
    assert not is_current(demo_copy, seed=0, **{**SMALL_DEMO, "n_subjects": 4})


def test_first_use_generates_into_the_cache(monkeypatch, tmp_path, caplog):
    monkeypatch.setenv("MER_RAY_CACHE", str(tmp_path))
    with caplog.at_level("INFO", logger="preprocessing.demo.generate"):
        root = ensure_demo(seed=0, **SMALL_DEMO)
    assert root == default_root(0, **SMALL_DEMO) and root.parent == tmp_path / "demo"
    assert "(first use)" in caplog.text and is_current(root, seed=0, **SMALL_DEMO)
    assert sorted(p.name for p in (tmp_path / "demo").iterdir()) == [root.name]  # no temporary folder left


def test_default_cache_root(monkeypatch, tmp_path):
    monkeypatch.setenv("MER_RAY_CACHE", str(tmp_path))
    assert default_root(0) == tmp_path / "demo" / f"v{VERSION}-seed0"
    small = default_root(0, **SMALL_DEMO)
    assert small.parent == tmp_path / "demo" and small.name.startswith(f"v{VERSION}-seed0-")
    assert default_root(0, **SMALL_DEMO) == small != default_root(0, **{**SMALL_DEMO, "n_subjects": 4})
    monkeypatch.delenv("MER_RAY_CACHE")
    assert default_root(3) == Path.home() / ".cache" / "mer_ray" / "demo" / f"v{VERSION}-seed3"


def test_a_folder_that_is_not_a_demo_is_never_overwritten(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "thesis.tex").write_text("precious")
    with pytest.raises(DatasetError, match="not a demo dataset"):
        generate_demo(tmp_path / "data", **SMALL_DEMO)
    assert (tmp_path / "data" / "thesis.tex").read_text() == "precious"


def test_an_interrupted_generation_leaves_nothing(tmp_path, monkeypatch):
    rendered = []
    real = writing_module.render_clip

    def failing(subject, plan):
        if len(rendered) == 2:
            raise KeyboardInterrupt
        rendered.append(plan)
        return real(subject, plan)

    monkeypatch.setattr(writing_module, "render_clip", failing)
    with pytest.raises(KeyboardInterrupt):
        generate_demo(tmp_path / "demo", **SMALL_DEMO)
    assert list(tmp_path.iterdir()) == []  # neither the root nor a partial folder


def test_parameters_are_validated():
    with pytest.raises(ValueError, match="seed"):
        generate_demo(Path("/nonexistent/never-written"), seed=-1)
    with pytest.raises(ValueError, match="n_subjects"):
        make_config(n_subject=3)
    with pytest.raises(ValueError, match="min_frames"):
        DemoConfig(min_frames=2)
    with pytest.raises(ValueError, match="max_frames"):
        DemoConfig(min_frames=12, max_frames=10)


@pytest.mark.parametrize("damage", ["delete_frame", "tamper_sheet", "delete_manifest"])
def test_a_half_deleted_or_tampered_demo_is_regenerated(demo_copy, small_demo, caplog, damage):
    frame = sorted((demo_copy / "CASME2_RAW_selected").rglob("*.jpg"))[5]
    if damage == "delete_frame":
        frame.unlink()
    elif damage == "tamper_sheet":
        sheet = demo_copy / "CASME2-coding-demo.xlsx"
        sheet.write_bytes(sheet.read_bytes()[:-10] + b"0123456789")
    else:
        (demo_copy / MANIFEST).unlink()  # checksums.json still says the folder is a demo
    assert not is_current(demo_copy, seed=0, **SMALL_DEMO)
    with caplog.at_level("INFO", logger="preprocessing.demo.generate"):
        ensure_demo(demo_copy, seed=0, **SMALL_DEMO)
    if damage != "delete_manifest":
        assert "(damaged: 1 files missing or changed, e.g. " in caplog.text
    assert tree_hashes(demo_copy) == tree_hashes(small_demo)


def test_a_demo_without_checksums_is_generated_again_once(demo_copy, small_demo):
    (demo_copy / "checksums.json").unlink()  # made before checksums were recorded
    assert not is_current(demo_copy, seed=0, **SMALL_DEMO)
    ensure_demo(demo_copy, seed=0, **SMALL_DEMO)
    assert is_current(demo_copy, seed=0, **SMALL_DEMO) and tree_hashes(demo_copy) == tree_hashes(small_demo)


def test_two_processes_generating_the_same_demo_do_it_once(tmp_path):
    """Two real processes: one generates, the other waits (saying so) and then reuses the same files."""
    import subprocess
    import sys

    code = ("import logging, sys, time; logging.basicConfig(level=logging.INFO, stream=sys.stdout); "
            "from preprocessing.demo import SMALL_DEMO, ensure_demo, generate as g; write = g._write_dataset; "
            "g._write_dataset = lambda *a: (time.sleep(4), write(*a)); "  # a generation longer than start-up skew
            f"ensure_demo({str(tmp_path / 'demo')!r}, seed=0, **SMALL_DEMO)")
    env = {**__import__("os").environ, "MER_RAY_CACHE": str(tmp_path / "cache")}
    procs = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True, env=env) for _ in range(2)]
    outputs = [p.communicate(timeout=300)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    assert sum("generating the built-in demo dataset" in out for out in outputs) == 1, outputs
    assert sum("waiting: another process is generating the demo dataset into" in out for out in outputs) == 1, outputs
    assert is_current(tmp_path / "demo", seed=0, **SMALL_DEMO)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache", "demo"]  # no partial folder left
