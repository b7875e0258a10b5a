"""A real two-node Ray cluster on this machine: two raylets on loopback, this test process as the driver.

These tests need their own cluster, not the session's ``ray_local``: the fixture shuts down any Ray this process
is connected to first, and afterwards starts the session's local cluster again if there was one.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest


@dataclass
class TwoNodes:
    cluster: Any  # ray.cluster_utils.Cluster
    head: Any  # ray._private.node.Node: the node the driver (this process) is connected to
    worker: Any

    @property
    def node_ids(self) -> set[str]:
        return {self.head.node_id, self.worker.node_id}


@pytest.fixture(scope="module")
def two_nodes() -> Iterator[TwoNodes]:
    """Head and worker, 1 CPU each (Ray's ``cluster_utils.Cluster``), one per test module."""
    import ray
    from ray.cluster_utils import Cluster

    was_running = ray.is_initialized()
    ray.shutdown()
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    try:
        worker = cluster.add_node(num_cpus=1)
        cluster.wait_for_nodes()
        ray.init(address=cluster.address, logging_level="WARNING")
        yield TwoNodes(cluster, cluster.head_node, worker)
    finally:
        ray.shutdown()
        cluster.shutdown()
        if was_running:  # give the session's ray_local fixture its cluster back
            from mer_ray.infra.runtime import init_ray

            init_ray(num_cpus=2)
