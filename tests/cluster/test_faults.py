"""Faults in the middle of real runs: a worker node dies, a trial's process dies, the driver dies, the
preprocessing dies. Each run must still finish with every fold (or clip) exactly once and the very numbers of an
uninterrupted run with the same seed: a retried fold is deterministic per (seed, configuration, subject).
"""

from __future__ import annotations

import json
import os
import re
import signal
import time
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mer_ray.search.run_folder import RunFolder
from mer_ray.search.scheduler import LosoSearch, run_serial
from mer_ray.search.tune import run_tune
from tests.cluster._procs import KillTrainingTrial, cli_env, kill_session, run, start, wait_for_files
from tests.mer_ray import _spaces
from tests.mer_ray._synthetic import synthetic_features

pytestmark = [pytest.mark.ray, pytest.mark.slow]

N_TRIALS = 2
SEED = 11


@pytest.fixture(scope="module")
def features():
    # 4 subjects x 2 configurations = 8 folds: a trial always starts after the first fold is in, whatever the order
    return synthetic_features(n_subjects=4, clips=3, datasets=("d1", "d2"))


# folds of a few seconds (the test space's 1 epoch takes well under one): long enough that a node which joins
# cold, importing torch, still gets trials before the warm nodes have run them all
SPACE = _spaces.SPACE.with_fixed(epochs=50)


def new_search(run_dir: Path, features) -> LosoSearch:
    return LosoSearch(run_dir, SPACE, features, n_trials=N_TRIALS, seed=SEED, log=lambda _: None)


@pytest.fixture(scope="module")
def reference(features, tmp_path_factory) -> LosoSearch:
    """The uninterrupted run: every fold in this process, one torch thread like each trial."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        search = new_search(tmp_path_factory.mktemp("reference"), features)
        run_serial(search, device="cpu")
    finally:
        torch.set_num_threads(threads)
    return search


def fold_files(run_dir: Path) -> list[str]:
    return sorted(str(p.relative_to(run_dir)) for p in run_dir.glob("folds/*/*.parquet"))


def predictions(run_dir: Path) -> pd.DataFrame:
    frame = pd.read_parquet(run_dir / "predictions.parquet") if (run_dir / "predictions.parquet").is_file() else None
    if frame is None:
        frame = pd.concat([pd.read_parquet(p) for p in sorted(run_dir.glob("folds/*/*.parquet"))], ignore_index=True)
    columns = ["config_id", "sample", "y_true", "y_pred", "scores"]
    return frame[columns].sort_values(["config_id", "sample"]).reset_index(drop=True)


def assert_same_as_reference(run_dir: Path, board: pd.DataFrame, reference_dir: Path, reference_board: pd.DataFrame):
    """Every fold exactly once, identical predictions (scores bit for bit) and identical pooled metrics."""
    assert fold_files(run_dir) == fold_files(reference_dir)
    got, want = predictions(run_dir), predictions(reference_dir)
    assert not got.duplicated(["config_id", "sample"]).any()
    pd.testing.assert_frame_equal(got, want)
    columns = ["uar", "uf1", "accuracy", "param_lr"]
    pd.testing.assert_frame_equal(board.set_index("config_id")[columns].sort_index(),
                                  reference_board.set_index("config_id")[columns].sort_index())


def assert_trial_was_cut_off(killer: KillTrainingTrial, records: list[dict], run_dir: Path) -> None:
    """The killed process was running a trial: Tune recorded that trial's failure and retried it (every fold is
    recorded once, checked by the caller), and Tune's only errors are that process's death."""
    assert killer.error is None, killer.error
    assert killer.killed_pid is not None
    errors = [p.read_text() for p in run_dir.glob("tune/*/*/error.txt")]
    assert errors, "no trial failed: the killed process was not running one"
    # a SIGKILLed process or raylet reads as "actor died" or "actor ... unavailable"; nothing else may fail
    assert all(re.search(r"actor .*(unavailable|died)", text) for text in errors), errors


# the CLI runs start their own local clusters; the module's two-node cluster is only set up after them


def test_a_killed_driver_is_completed_by_resume(tmp_path):
    env = cli_env(tmp_path / "cache")
    loso = ["-m", "mer_ray.loso", "--search", "vit", "--seed", "5"]
    # the uninterrupted run first: it also builds the smoke features into the cache the other runs reuse
    run([*loso, "--smoke-test", "--out", "reference"], tmp_path, env, tmp_path / "reference.log")
    [reference_dir] = (tmp_path / "reference").iterdir()

    proc = start([*loso, "--smoke-test", "--out", "runs"], tmp_path, env, tmp_path / "killed.log")  # relative --out
    try:
        wait_for_files(tmp_path / "runs", "*/folds/*/*.parquet", proc, timeout=180)
    finally:
        kill_session(proc)  # SIGKILL the driver and every Ray process it started
    [run_dir] = (tmp_path / "runs").iterdir()
    before = {p: p.stat().st_mtime_ns for p in run_dir.glob("folds/*/*.parquet")}
    assert 0 < len(before) < len(fold_files(reference_dir))
    assert not (run_dir / "leaderboard.csv").exists()

    output = run([*loso, "--resume", str(run_dir.relative_to(tmp_path))], tmp_path, env, tmp_path / "resume.log")
    assert "resuming" in output
    assert {p: p.stat().st_mtime_ns for p in before} == before  # finished folds were not run again
    assert_same_as_reference(run_dir, pd.read_csv(run_dir / "leaderboard.csv"),
                             reference_dir, pd.read_csv(reference_dir / "leaderboard.csv"))
    trials = pd.read_csv(RunFolder(run_dir).trials_csv)  # rows of both runs: where every fold ran
    folds = pd.read_parquet(run_dir / "predictions.parquet")[["config_id", "subject"]].drop_duplicates()
    assert set(zip(trials["config_id"], trials["subject"])) == set(zip(folds["config_id"], folds["subject"]))


def test_a_killed_preprocessing_run_completes_on_rerun_without_duplicates(small_demo, tmp_path):
    env = cli_env(tmp_path / "cache")
    (tmp_path / "demo").symlink_to(small_demo)
    # one actor: the two blocks (8 + 1 clips) run one after the other, so the kill lands between them
    prep = ["-m", "preprocessing", "run", "--dataset", "demo=demo", "--dataset-option", "demo.small=true",
            "--num-actors", "1"]
    run([*prep, "--out", "reference"], tmp_path, env, tmp_path / "reference.log")
    reference = pq.read_table(tmp_path / "reference" / "shards", columns=["sample_id"]).column("sample_id")
    total = len(reference)

    out = tmp_path / "features"
    proc = start([*prep, "--out", "features"], tmp_path, env, tmp_path / "killed.log")
    try:
        deadline = time.monotonic() + 180
        while not _complete_shards(out):  # a whole shard, so that some work is kept
            assert proc.poll() is None and time.monotonic() < deadline, (tmp_path / "killed.log").read_text()
            time.sleep(0.02)
    finally:
        kill_session(proc)
    assert not (out / "manifest.json").exists()

    output = run([*prep, "--out", "features"], tmp_path, env, tmp_path / "rerun.log")
    redone = int(re.search(r"(\d+) \(re\)computed in this run", output).group(1))
    assert 0 < redone < total  # only what the killed run had not finished
    ids = pq.read_table(out / "shards", columns=["sample_id"]).column("sample_id").to_pylist()
    assert len(ids) == len(set(ids)) and sorted(ids) == sorted(reference.to_pylist())
    got, want = (json.loads((d / "manifest.json").read_text())["content_hash"] for d in (out, tmp_path / "reference"))
    assert got == want  # the same features as the uninterrupted run


def _complete_shards(out: Path) -> list[Path]:
    complete = []
    for path in sorted(out.glob("shards/*.parquet")):
        try:
            pq.read_metadata(path)
        except (OSError, pa.ArrowInvalid):
            continue
        complete.append(path)
    return complete


def test_a_worker_node_killed_mid_loso_changes_nothing(two_nodes, features, reference, tmp_path):
    victim = two_nodes.cluster.add_node(num_cpus=1)  # a third node, so the module's two stay for the next tests
    two_nodes.cluster.wait_for_nodes()
    run_dir = tmp_path / "run"
    search = new_search(run_dir, features)
    # the victim may run only first-wave trials (the other nodes can take all later ones), so it dies mid-trial
    # whenever its trial runs; keeping finished folds across a kill is what the killed-trial and driver tests check
    killer = KillTrainingTrial(run_dir, [victim], lambda _: two_nodes.cluster.remove_node(victim, allow_graceful=False),
                               min_folds=0)
    killer.start()
    try:
        records = run_tune(search, cpus_per_trial=1, max_failures=2)
    finally:
        killer.done.set()
        killer.join(timeout=60)
    assert_trial_was_cut_off(killer, records, run_dir)
    assert len(records) == len(features.subjects) * N_TRIALS
    assert_same_as_reference(run_dir, search.leaderboard(), reference.run_dir, reference.leaderboard())
    assert (search.leaderboard()["state"] == "COMPLETE").all()


def test_a_killed_trial_process_is_retried_and_changes_nothing(two_nodes, features, reference, tmp_path):
    run_dir = tmp_path / "run"
    search = new_search(run_dir, features)
    killer = KillTrainingTrial(run_dir, [two_nodes.head, two_nodes.worker], lambda pid: os.kill(pid, signal.SIGKILL))
    killer.start()
    try:
        records = run_tune(search, cpus_per_trial=1, max_failures=2)
    finally:
        killer.done.set()
        killer.join(timeout=60)
    assert_trial_was_cut_off(killer, records, run_dir)
    assert len(records) == len(features.subjects) * N_TRIALS
    assert_same_as_reference(run_dir, search.leaderboard(), reference.run_dir, reference.leaderboard())
    trials = pd.read_csv(RunFolder(run_dir).trials_csv)
    assert len(trials) == len(records) and not trials.duplicated(["config_id", "subject"]).any()
