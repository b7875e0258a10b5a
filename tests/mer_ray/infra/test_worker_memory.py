"""Flat memory over the folds of a reused Ray Tune trial process (issue 20).

Tune runs each fold of a reused trial process in a new thread; glibc gives each new thread its own malloc arena,
which keeps the pages the fold freed, so without a cap a reused process grew by a fold's working set per fold
(~30-40 MiB) until every arena (8 per CPU) was taken. ``init_ray`` starts every worker of the job with
``MALLOC_ARENA_MAX=2`` (``runtime_env``); ``benchmarks/memory_load.py`` measures the growth per fold. If these
tests fail, the growth is back.
"""

import os

import pytest

from mer_ray.infra import runtime


def test_worker_env_caps_malloc_arenas_unless_the_user_set_a_cap(monkeypatch):
    monkeypatch.delenv("MALLOC_ARENA_MAX", raising=False)
    assert runtime.worker_env() == {"MALLOC_ARENA_MAX": "2"}
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    assert runtime.worker_env() == {"MALLOC_ARENA_MAX": "4"}


def test_init_ray_gives_every_worker_of_the_job_the_cap(monkeypatch):
    import ray

    seen = {}

    def fake_init(**kwargs):
        seen.update(kwargs)
        raise RuntimeError("stop here")  # no cluster started

    monkeypatch.delenv("MALLOC_ARENA_MAX", raising=False)
    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", fake_init)
    with pytest.raises(RuntimeError, match="stop here"):
        runtime.init_ray(num_cpus=1)
    assert seen["runtime_env"] == {"env_vars": {"MALLOC_ARENA_MAX": "2"}}


@pytest.mark.ray
def test_a_ray_worker_runs_with_the_cap(ray_local):
    @ray_local.remote(num_cpus=1)
    def arena_cap() -> str | None:
        return os.environ.get("MALLOC_ARENA_MAX")

    assert ray_local.get(arena_cap.remote()) == os.environ.get("MALLOC_ARENA_MAX", "2")
