"""One writer at a time: an exclusive ``filelock.FileLock`` per features folder, demo cache and run folder.

The lock is an OS file lock (``flock``), so a killed process releases it; a second process either waits for the
first, saying so once, or is refused with a message naming the folder and the lock file. The lock file itself
stays (deleting it would race with a process that just opened it); it is empty and harmless.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout


class FolderBusy(RuntimeError):
    """Another process holds the folder's lock and the caller chose not to wait."""


def locks_dir() -> Path:
    """Where locks of folders that are renamed into place live (the demo cache): ``$MER_RAY_CACHE/locks``."""
    from mer_ray.infra.runtime import cache_root

    return cache_root() / "locks"


def keyed_lock_path(folder: Path) -> Path:
    """A lock file for ``folder`` outside it (in :func:`locks_dir`), keyed by its absolute path."""
    folder = Path(folder).expanduser().resolve()
    digest = hashlib.sha256(str(folder).encode()).hexdigest()[:16]
    return locks_dir() / f"{folder.name}-{digest}.lock"


@contextmanager
def exclusive(lock_path: Path, what: str, *, wait: bool = True,
              say: Callable[[str], None] | None = None) -> Iterator[None]:
    """Hold the lock at ``lock_path`` for the block.

    Args:
        lock_path: the lock file (its folder is created).
        what: what the holder is doing, for the messages ("preprocessing into /data/features").
        wait: wait for the other process (one message, then block); False raises :class:`FolderBusy` at once.
        say: where the waiting message goes (default ``print`` with flush).

    Raises:
        FolderBusy: ``wait`` is False and another process holds the lock.
    """
    lock_path = Path(lock_path)
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(lock_path))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        if not wait:
            raise FolderBusy(f"another process is {what} (it holds {lock_path}); wait for it to finish") from None
        (say or _print)(f"waiting: another process is {what} (lock {lock_path})")
        lock.acquire()
    try:
        yield
    finally:
        lock.release()


def _print(message: str) -> None:
    print(message, flush=True)
