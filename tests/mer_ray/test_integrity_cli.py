"""A truncated shard as a new user meets it: `mer_ray.loso` refuses it in one line, the command it names repairs it."""

from __future__ import annotations

import re
import shlex

import pytest

from mer_ray.loso import main as loso_main
from preprocessing.cli import main as preprocessing_main

pytestmark = pytest.mark.ray


def test_truncated_shard_is_refused_then_repaired_by_the_named_command(tmp_path, monkeypatch, capsys, ray_local):
    monkeypatch.setenv("MER_RAY_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "features"
    assert preprocessing_main(["run", "--smoke-test", "--out", str(out)]) == 0
    capsys.readouterr()
    shard = sorted((out / "shards").glob("*.parquet"))[0]
    shard.write_bytes(shard.read_bytes()[:1000])

    assert loso_main(["--search", "probe", "--features", str(out), "--out", str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err and "magic bytes" not in err
    assert f"error: {out}: 1 shard damaged: shards/{shard.name} (truncated or unreadable)" in err
    command = re.search(r"`(python -m preprocessing run [^`]*)`", err).group(1)
    assert command == f"python -m preprocessing run --smoke-test --out {out}"

    assert preprocessing_main(shlex.split(command)[3:]) == 0
    report = capsys.readouterr().out
    assert f"repaired 1 damaged shard (moved to {out / 'damaged'}, their clips recomputed): shards/{shard.name} " \
           "(truncated or unreadable)" in report
    assert "0 (re)computed" not in report
    from mer_ray.data.features import load_features

    assert len(load_features(out)) > 0
