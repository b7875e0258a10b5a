"""A small demo generated once per test session (3 subjects x 3 clips, a few seconds)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from preprocessing.demo import SMALL_DEMO, generate_demo


def tree_hashes(root: Path) -> dict[str, str]:
    """sha256 of every file under ``root``, keyed by relative path."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="session")
def small_demo(tmp_path_factory) -> Path:
    """The small demo, seed 0 (read-only for tests: copy it before changing anything)."""
    return generate_demo(tmp_path_factory.mktemp("demo") / "small", seed=0, **SMALL_DEMO)
