"""Multi-node for real on one machine: preprocessing and a small LOSO spread over two raylets, and a third node
that cannot see the run folder nor the features folder still runs trials (what cluster/README.md promises).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
import ray
from ray.data import DataContext
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from mer_ray.data.features import load_features
from mer_ray.search.run_folder import RunFolder
from mer_ray.search.scheduler import LosoSearch
from mer_ray.search.tune import run_tune
from preprocessing.features.pipeline import ActorPool, plan_actor_pool, run_pipeline
from preprocessing.features.prepare import select_samples
from tests.cluster._procs import kill_session
from tests.mer_ray import _spaces

BLIND = "blind_node"  # custom resource of the node that cannot see the driver's folders


@ray.remote(num_cpus=1)
class CpuHolder:
    """Keeps one CPU of its node taken, so that the scheduler puts work elsewhere."""

    def ready(self) -> bool:
        return True


@ray.remote(num_cpus=0, resources={BLIND: 0.01})
def blind_node_sees(*paths: str) -> list[bool]:
    return [os.path.exists(p) for p in paths]


def test_actor_pool_is_fixed_locally_and_autoscales_on_a_cluster_that_can_grow():
    assert plan_actor_pool(2, 5, elastic=False) == ActorPool(2, 2, 0.5)  # 2 x 1 CPU would starve the writes
    assert plan_actor_pool(8, 3, elastic=False) == ActorPool(3, 3, 1.0)  # no more actors than blocks
    assert plan_actor_pool(0, 50, elastic=True) == ActorPool(1, 50, 0.5)  # a 0-CPU head: grows with the workers
    assert plan_actor_pool(16, 50, elastic=True) == ActorPool(16, 50, 0.5)
    assert plan_actor_pool(16, 50, elastic=True, num_actors=4, actor_cpus=2) == ActorPool(4, 4, 2)


@pytest.fixture(scope="module")
def preprocessed(two_nodes, small_demo, tmp_path_factory):
    selection = select_samples([f"demo={small_demo}"], {"demo": {"small": True}})
    out = tmp_path_factory.mktemp("shared") / "features"
    context = DataContext.get_current()
    wait = context.wait_for_min_actors_s
    context.wait_for_min_actors_s = 120  # both first actors up before blocks are handed out: each node gets work
    try:
        summary = run_pipeline(selection.protocol.samples, out, exclusions=selection.protocol.exclusions,
                               clips_per_block=2)
    finally:
        context.wait_for_min_actors_s = wait
    return selection.protocol.samples, out, summary


@pytest.mark.ray
@pytest.mark.slow
def test_preprocessing_actors_run_on_both_nodes(two_nodes, preprocessed):
    samples, out, summary = preprocessed
    assert all(Path(frame).is_absolute() for sample in samples for frame in sample.frames)  # workers open them
    table = pq.read_table(out / "shards", columns=["sample_id", "status", "node_id"])
    ids = table.column("sample_id").to_pylist()
    assert len(ids) == len(set(ids)) and sorted(ids) == sorted(s.sample_id for s in samples)
    assert set(table.column("node_id").to_pylist()) == two_nodes.node_ids
    assert summary.processed == len(samples)


@pytest.mark.ray
@pytest.mark.slow
def test_loso_trials_run_on_both_nodes_and_are_recorded(two_nodes, preprocessed, tmp_path):
    features = load_features(preprocessed[1])
    search = LosoSearch(tmp_path / "run", _spaces.SPACE, features, n_trials=1, seed=0, log=lambda _: None)
    # A fresh process per trial: with reused trial actors (the default) these 1-s folds can all finish on the
    # first actor before the second one has started, which says nothing about placement.
    records = run_tune(search, cpus_per_trial=1, reuse_actors=False)
    assert sorted(r["subject"] for r in records) == features.subjects  # every fold once
    assert {r["node_id"] for r in records} == two_nodes.node_ids  # two trials at a time: one per 1-CPU node
    trials = pd.read_csv(RunFolder(tmp_path / "run").trials_csv)
    assert trials[["config_id", "subject", "node_id", "pid"]].to_dict("records") == [
        {k: r[k] for k in ("config_id", "subject", "node_id", "pid")} for r in records
    ]
    assert (search.leaderboard()["state"] == "COMPLETE").all()


@pytest.fixture
def blind_node(two_nodes, tmp_path):
    """A third node (``ray start`` in its own mount namespace) on which ``tmp_path / "driver_only"`` is empty."""
    hidden = tmp_path / "driver_only"
    hidden.mkdir()
    if shutil.which("unshare") is None:
        pytest.skip("util-linux's unshare is not installed")
    namespace = ["unshare", "--user", "--map-root-user", "--mount", "sh", "-c"]
    mount = f"mount -t tmpfs tmpfs '{hidden}'"
    probe = subprocess.run([*namespace, mount], capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip(f"cannot hide a folder from a node here (unprivileged mount namespaces): {probe.stderr.strip()}")
    ray_cli = Path(sys.executable).with_name("ray")
    start = (f"{mount} && exec '{ray_cli}' start --address={two_nodes.cluster.address} --num-cpus=1 "
             f"--resources='{{\"{BLIND}\": 1}}' --block")
    env = {**os.environ, "RAY_AUTH_MODE": "disabled"}
    proc = subprocess.Popen([*namespace, start], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while not (node_id := _blind_node_id()):
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the third node did not join (exit code {proc.poll()})")
            time.sleep(0.2)
        yield hidden, node_id
    finally:
        kill_session(proc)  # SIGKILL: the node dies like a crashed machine; the cluster goes on without it


def _blind_node_id() -> str | None:
    for node in ray.nodes():
        if node["Alive"] and BLIND in node["Resources"]:
            return node["NodeID"]
    return None


@pytest.mark.ray
@pytest.mark.slow
def test_trials_need_neither_the_run_folder_nor_the_features_folder(two_nodes, blind_node, preprocessed):
    hidden, blind_id = blind_node
    features_dir = shutil.copytree(preprocessed[1], hidden / "features")
    run_dir = hidden / "run"
    features = load_features(features_dir)  # the driver reads the features; trials get them from the object store
    search = LosoSearch(run_dir, _spaces.SPACE, features, n_trials=1, seed=0, log=lambda _: None)
    shared = preprocessed[1]
    assert ray.get(blind_node_sees.remote(str(features_dir), str(run_dir), str(shared))) == [False, False, True]
    # hold the CPU of the two other nodes, so that every trial runs on the blind node
    holders = [CpuHolder.options(scheduling_strategy=NodeAffinitySchedulingStrategy(node_id, soft=False)).remote()
               for node_id in two_nodes.node_ids]
    ray.get([holder.ready.remote() for holder in holders])
    try:
        records = run_tune(search, cpus_per_trial=1)
    finally:
        for holder in holders:
            ray.kill(holder)
    assert {r["node_id"] for r in records} == {blind_id}
    assert sorted(r["subject"] for r in records) == features.subjects
    assert len(list(run_dir.glob("folds/*/*.parquet"))) == len(features.subjects)
    assert (search.leaderboard()["state"] == "COMPLETE").all()
    assert ray.get(blind_node_sees.remote(str(run_dir / "folds"), str(run_dir / "tune"))) == [False, False]
    assert json.loads((features_dir / "manifest.json").read_text())["processed"] == len(features)
