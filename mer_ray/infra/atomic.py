"""Atomic file writes: write a temporary sibling, then ``os.replace`` it into place (all or nothing)."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; when the block succeeds it replaces ``path``, else it is removed.

    A reader never sees a half-written file, and a process killed mid-write leaves only a ``*.tmp-*`` file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:6]}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_text(path: str | Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_json(path: str | Path, data: Any, *, sort_keys: bool = True) -> None:
    """``data`` as indented JSON (non-JSON values through ``str``), atomically."""
    write_text(path, json.dumps(data, indent=2, sort_keys=sort_keys, default=str) + "\n")
