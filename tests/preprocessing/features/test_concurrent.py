"""Two real `python -m preprocessing run` processes into one folder: one computes, the other waits, nothing doubles."""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from filelock import FileLock

from preprocessing.features import shards

REPO = Path(__file__).resolve().parents[3]


@pytest.mark.slow
def test_two_processes_preprocessing_into_one_folder(tmp_path):
    out = tmp_path / "features"
    out.mkdir()
    env = {**os.environ, "MER_RAY_CACHE": str(tmp_path / "cache"), "PYTHONUNBUFFERED": "1",
           "RAY_AUTH_MODE": "disabled", "OMP_NUM_THREADS": "1"}
    held = FileLock(str(out / ".lock"))
    held.acquire()  # both processes reach the folder while it is busy: each must say it waits
    lines: queue.Queue = queue.Queue()
    procs = [subprocess.Popen([sys.executable, "-m", "preprocessing", "run", "--smoke-test", "--out", str(out)],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=REPO)
             for _ in range(2)]
    outputs: list[list[str]] = [[], []]

    def read(i: int) -> None:
        for line in procs[i].stdout:
            outputs[i].append(line)
            lines.put((i, line))

    readers = [threading.Thread(target=read, args=(i,), daemon=True) for i in range(2)]
    for reader in readers:
        reader.start()
    waiting: set[int] = set()
    try:
        while waiting != {0, 1}:
            i, line = lines.get(timeout=240)
            if line.startswith(f"waiting: another process is preprocessing into {out}"):
                waiting.add(i)
    finally:
        held.release()
    for proc in procs:
        proc.wait(timeout=300)
    for reader in readers:
        reader.join(timeout=10)
    texts = ["".join(o) for o in outputs]
    assert [p.returncode for p in procs] == [0, 0], texts
    assert sum(" 0 (re)computed in this run" in text for text in texts) == 1, texts  # the second found it done
    ids = pq.read_table(sorted((out / "shards").glob("*.parquet"))).column("sample_id").to_pylist()
    manifest = shards.read_manifest(out)
    assert sorted(ids) == manifest["sample_ids"]  # every clip once: no torn or duplicated shard
