"""Folder locks: a second holder is refused with a message naming the folder's lock, or told it waits."""

import threading

import pytest

from mer_ray.infra.locks import FolderBusy, exclusive, keyed_lock_path


def test_a_held_lock_refuses_a_second_holder_that_will_not_wait(tmp_path):
    lock = tmp_path / ".lock"
    with exclusive(lock, "running /runs/a"):
        with pytest.raises(FolderBusy, match=r"another process is running /runs/a \(it holds .*\.lock\)"):
            with exclusive(lock, "running /runs/a", wait=False):
                pass
    with exclusive(lock, "running /runs/a", wait=False):  # released on leaving the block
        pass


def test_a_waiting_holder_says_so_once_and_gets_the_lock_when_it_is_released(tmp_path):
    lock, said, order = tmp_path / ".lock", [], []
    release = threading.Event()

    def first():
        with exclusive(lock, "preprocessing into /f"):
            order.append("first in")
            release.wait(10)
            order.append("first out")

    holder = threading.Thread(target=first)
    holder.start()
    while not order:
        pass
    waiter = threading.Thread(target=lambda: exclusive(lock, "preprocessing into /f", say=said.append).__enter__()
                              or order.append("second in"))
    waiter.start()
    while not said:
        pass
    release.set()
    holder.join(10)
    waiter.join(10)
    assert said == [f"waiting: another process is preprocessing into /f (lock {lock})"]
    assert order == ["first in", "first out", "second in"]


def test_keyed_locks_live_outside_the_folder_and_differ_by_absolute_path(tmp_path, monkeypatch):
    monkeypatch.setenv("MER_RAY_CACHE", str(tmp_path / "cache"))
    a, b = keyed_lock_path(tmp_path / "x" / "demo"), keyed_lock_path(tmp_path / "y" / "demo")
    assert a != b and a.parent == b.parent == tmp_path / "cache" / "locks" and a.name.startswith("demo-")
