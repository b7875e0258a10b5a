"""Helpers of the demo tests (the `small_demo` fixture lives in tests/conftest.py)."""

from __future__ import annotations

import hashlib
from pathlib import Path


def tree_hashes(root: Path) -> dict[str, str]:
    """sha256 of every file under ``root``, keyed by relative path."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}
