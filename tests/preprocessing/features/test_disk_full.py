"""A full disk while preprocessing: one clear error line, no torn shard left, and the same command resumes once
space is back.

The fast tests inject ENOSPC into the low-level writes (no Ray: the shard writer is replaced by one that writes
through a file with a byte budget, as a Ray Data write task would); the slow one fills a real tmpfs.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from preprocessing.annotations.sample import Sample
from preprocessing.features import pipeline, shard_rows, shards
from preprocessing.features.pipeline import PipelineError, is_disk_full, run_pipeline
from preprocessing.vision.clip import PreprocessConfig

SIZE = 32
CONFIG = PreprocessConfig.from_dict({"align": {"size": SIZE}, "sequence": {"frames": 0}})
SAMPLES = [Sample("demo", f"demo/sub{i % 3:02d}", f"EP{i:02d}", "happiness", 10, 12, 15, ("/a.jpg",), (10,), "",
                  i % 3) for i in range(9)]
BLOCK = 4  # clips per shard of the fake writer


class FullDisk(OSError):
    def __init__(self):
        super().__init__(errno.ENOSPC, "No space left on device")


def write_with_budget(path: Path, data: bytes, budget: list[int]) -> None:
    """Write ``data`` to ``path`` in 64 KiB ``os.write`` calls that fail with ENOSPC once ``budget`` bytes are used
    up (what was written before stays on disk, as on a full disk)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    try:
        for start in range(0, len(data), 1 << 16):
            chunk = data[start:start + (1 << 16)]
            if len(chunk) > budget[0]:
                os.write(fd, chunk[: budget[0]])
                budget[0] = 0
                raise FullDisk()
            budget[0] -= os.write(fd, chunk)
    finally:
        os.close(fd)


def _clip(sample: Sample):
    """Deterministic stored arrays of a clip (as ``process_clip`` returns them)."""
    rng = np.random.default_rng(int(hashlib.sha256(sample.sample_id.encode()).hexdigest()[:8], 16))
    return types.SimpleNamespace(
        apex=12, apex_spotted=False, angle=0.5, faces_found=1, warnings=(),
        features=rng.normal(size=(SIZE, SIZE, 4)).astype(np.float32),
        onset_face=rng.integers(0, 255, (SIZE, SIZE), dtype=np.uint8),
        apex_face=rng.integers(0, 255, (SIZE, SIZE), dtype=np.uint8),
        mask=rng.integers(0, 2, (SIZE, SIZE), dtype=np.uint8),
        landmarks=rng.normal(size=(68, 2)).astype(np.float32))


def fake_writer(budget: list[int]):
    """A ``_process_clips`` that writes blocks of BLOCK clips as shards through a :class:`BudgetFile`; a write
    that runs out of budget fails as Ray Data's does in the driver: a task error whose text names ENOSPC."""

    def process(todo, already, out, config, **_):
        run = len(list((out / shards.SHARDS_DIR).iterdir()))  # names unique across runs into the folder
        for start in range(0, len(todo), BLOCK):
            rows = [shard_rows.processed_row(s, SIZE, _clip(s)) for s in todo[start:start + BLOCK]]
            table = shard_rows.rows_to_table(rows, SIZE)
            buffer = pa.BufferOutputStream()
            pq.write_table(table, buffer)
            try:
                write_with_budget(out / shards.SHARDS_DIR / f"{run}-{start}.parquet",
                                  buffer.getvalue().to_pybytes(), budget)
            except OSError as err:
                raise RuntimeError(f"ray::Write() failed: {err}") from None  # the cause's text only, like Ray

    return process


def run(out: Path, monkeypatch, budget: int = 10**12):
    monkeypatch.setattr(pipeline, "_process_clips", fake_writer([budget]))
    return run_pipeline(SAMPLES, out, CONFIG)


def test_a_full_disk_while_writing_shards_is_one_line_that_keeps_whole_shards_and_resumes(tmp_path, monkeypatch):
    reference = run(tmp_path / "reference", monkeypatch)
    shard_bytes = max(p.stat().st_size for p in (tmp_path / "reference" / "shards").iterdir())

    out = tmp_path / "features"
    with pytest.raises(PipelineError) as failed:
        run(out, monkeypatch, budget=shard_bytes + shard_bytes // 2)  # the first shard fits, the second does not
    message = str(failed.value)
    assert "\n" not in message
    assert re.fullmatch(
        rf"no space left on device in {re.escape(str(out))} while writing the feature shards: [\d.]+ MiB free "
        r"there, about [\d.]+ MiB more needed for the 5 clips not stored yet; removed 1 incomplete shard "
        r"\(shards/0-4\.parquet\); the 4 clips stored are kept: free space on that disk and run the same command "
        r"again \(only the missing clips are computed\)", message), message
    # no torn shard: what is left reads whole, and the run is marked incomplete
    [kept] = (out / "shards").iterdir()
    assert pq.read_table(kept).num_rows == BLOCK
    assert not (out / shards.MANIFEST).exists()

    summary = run(out, monkeypatch)  # space is back: the same call resumes
    assert summary.newly_processed == len(SAMPLES) - BLOCK
    assert summary.manifest["content_hash"] == reference.manifest["content_hash"]


def test_a_full_disk_while_writing_the_manifest_leaves_no_partial_file(tmp_path, monkeypatch):
    real_write_text = Path.write_text

    def write_text(self, text, *args, **kwargs):
        if self.name.startswith(f"{shards.MANIFEST}.tmp-"):
            real_write_text(self, text[: len(text) // 2])
            raise FullDisk()
        return real_write_text(self, text, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", write_text)
    out = tmp_path / "features"
    with pytest.raises(PipelineError, match=r"while writing rejects\.parquet and manifest\.json: .* more needed for "
                                            r"the 0 clips not stored yet; the 9 clips stored are kept"):
        run(out, monkeypatch)
    assert not (out / shards.MANIFEST).exists()
    assert not list(out.rglob("*.tmp-*"))  # the atomic write removed its partial file
    assert sum(pq.read_table(p).num_rows for p in (out / "shards").iterdir()) == len(SAMPLES)


def test_only_enospc_counts_as_a_full_disk():
    wrapped = RuntimeError("ray::Write() failed")
    wrapped.__cause__ = FullDisk()
    assert is_disk_full(wrapped)
    assert is_disk_full(RuntimeError("OSError: [Errno 28] Error writing bytes to file. Detail: [errno 28] No space "
                                     "left on device"))
    assert not is_disk_full(OSError(errno.EACCES, "Permission denied"))
    assert not is_disk_full(pa.ArrowInvalid("bad file"))


# ---- a real full disk: a small tmpfs as the output folder ------------------------------------------------------

PREP = ["-m", "preprocessing", "run", "--dataset-option", "demo.small=true", "--num-actors", "1"]


def _prep(tmp_path: Path, demo: Path, out: Path) -> subprocess.CompletedProcess:
    from tests.cluster._procs import cli_env

    return subprocess.run([sys.executable, *PREP, "--dataset", f"demo={demo}", "--out", str(out)], cwd=tmp_path,
                          env=cli_env(tmp_path / "cache"), capture_output=True, text=True, timeout=300)


@pytest.fixture
def tmpfs(tmp_path):
    """A mount point whose tmpfs the test sizes (``mount(size_kib)``); skipped where mounting is not allowed."""
    point = tmp_path / "disk"
    point.mkdir()
    mounted = []

    def mount(size_kib: int, remount: bool = False) -> Path:
        options = f"{'remount,' if remount else ''}size={size_kib}k"
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(point)], capture_output=True,
                              text=True)
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here (needs root / CAP_SYS_ADMIN): {done.stderr.strip()}")
        mounted.append(point)
        return point

    if shutil.which("mount") is None:
        pytest.skip("no mount command")
    yield mount
    if mounted:
        subprocess.run(["umount", "-l", str(point)], check=False)


@pytest.mark.slow
@pytest.mark.ray
def test_preprocessing_into_a_full_tmpfs_fails_in_one_line_and_resumes_once_space_is_back(small_demo, tmp_path,
                                                                                        tmpfs):
    reference = _prep(tmp_path, small_demo, tmp_path / "reference")
    assert reference.returncode == 0, reference.stderr[-3000:]
    sizes = [p.stat().st_size for p in (tmp_path / "reference" / "shards").iterdir()]
    assert len(sizes) == 2  # one actor, two blocks: two shards
    # room for either shard and the small files, not for both
    disk = tmpfs((max(sizes) + min(sizes) // 2) // 1024)
    out = disk / "features"

    full = _prep(tmp_path, small_demo, out)
    assert full.returncode == 2, full.stderr[-3000:]
    [line] = full.stderr.splitlines()  # one line, no traceback, no logging errors
    assert line.startswith(f"error: no space left on device in {out} while writing the feature shards: ")
    assert re.search(r"about [\d.]+ MiB more needed for the \d clips not stored yet; removed 1 incomplete shard "
                     r"\(shards/\S+\.parquet\); the \d clips stored are kept", line), line
    [kept] = (out / "shards").iterdir()  # no torn shard: the one left reads whole
    stored = pq.read_table(kept).num_rows
    assert 0 < stored < 9 and not (out / shards.MANIFEST).exists()

    tmpfs(64 * 1024, remount=True)  # space is back
    again = _prep(tmp_path, small_demo, out)
    assert again.returncode == 0, again.stderr[-3000:]
    assert f"{9 - stored} (re)computed in this run" in again.stdout
    got, want = (json.loads((d / shards.MANIFEST).read_text())["content_hash"] for d in (out, tmp_path / "reference"))
    assert got == want
