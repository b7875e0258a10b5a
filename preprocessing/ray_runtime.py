"""Connecting to Ray: a local cluster by default, an existing one with ``--address auto`` (or ``ray://...``)."""

from __future__ import annotations

import logging
import os

_joined = False  # whether init_ray joined an existing cluster (which may gain nodes) rather than starting one


def joined_existing_cluster() -> bool:
    """True when :func:`init_ray` was given an address: the cluster may grow, so pools should autoscale."""
    return _joined


def init_ray(address: str | None = None, *, num_cpus: int | None = None) -> None:
    """Start (or join) Ray once per process.

    Args:
        address: ``None`` starts a local cluster on this machine; ``"auto"`` joins the cluster this machine is
            part of (``ray start`` / ``ray up``); ``"ray://host:10001"`` connects a client.
        num_cpus: CPUs of a new local cluster (default: all of this machine's).
    """
    import ray

    global _joined
    if ray.is_initialized():
        return
    _joined = address is not None
    if address is None:
        os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # a private, local, single-user cluster
    os.environ.setdefault("RAY_DEDUP_LOGS", "1")
    ray.init(
        address=address or "local",  # None would silently join any cluster already running on this machine
        num_cpus=num_cpus if address is None else None,
        include_dashboard=False if address is None else None,
        logging_level=logging.WARNING,
        log_to_driver=True,
    )
    try:
        from ray.data import DataContext

        DataContext.get_current().enable_progress_bars = True
    except ImportError:
        pass
