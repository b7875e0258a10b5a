"""Fixtures shared by every test package."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("RAY_AUTH_MODE", "disabled")

REPO = Path(__file__).resolve().parents[1]
REFERENCE = REPO.parent / "shared" / "reference"


def pytest_collection_modifyitems(config, items):
    try:
        import torch

        has_cuda = torch.cuda.is_available()
    except ImportError:
        has_cuda = False
    if has_cuda:
        return
    skip_gpu = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip_gpu)


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    """The real annotation sheets (`../shared/reference`); tests that need them skip only when it is absent."""
    if not REFERENCE.is_dir():
        pytest.skip(f"{REFERENCE} is absent")
    return REFERENCE


@pytest.fixture
def rng():
    import numpy as np

    return np.random.default_rng(42)


@pytest.fixture(scope="session")
def small_demo(tmp_path_factory) -> Path:
    """The small demo (3 subjects x 3 clips), seed 0, generated once per session; copy it before changing it."""
    from preprocessing.demo import SMALL_DEMO, generate_demo

    return generate_demo(tmp_path_factory.mktemp("demo") / "small", seed=0, **SMALL_DEMO)


@pytest.fixture(scope="session")
def ray_local():
    """A real local Ray cluster (2 CPUs) shared by the session's Ray tests."""
    import ray

    from mer_ray.infra.runtime import init_ray

    init_ray(num_cpus=2)
    yield ray
    ray.shutdown()
