"""Clean interrupts of the CLIs: SIGINT / SIGTERM become one exception, raised where it is safe.

``with catch_signals():`` turns the first SIGINT or SIGTERM into :class:`Interrupted` (a ``BaseException``, so no
``except Exception`` on the way swallows it) and ignores further ones while the CLI cleans up. Inside
``with critical():`` (a finished fold being persisted) the signal is held back and raised when the block ends, so
a fold file and its bookkeeping are written whole or not at all. Ray Tune's own SIGINT handler is turned off
(``TUNE_DISABLE_SIGINT_HANDLER``): it would print its own messages and wait for the running trials.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupted(BaseException):
    """The process got SIGINT or SIGTERM; ``exit_code`` is the shell's 128 + signal number (130, 143)."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum

    @property
    def exit_code(self) -> int:
        return 128 + self.signum

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name


_state = {"active": False, "critical": 0, "held": None, "fired": False}


def _handler(signum, frame) -> None:
    if _state["fired"]:
        return  # a second Ctrl-C while cleaning up: the first one is being handled
    if _state["critical"]:
        _state["held"] = signum
        return
    _state["fired"] = True
    raise Interrupted(signum)


@contextmanager
def catch_signals() -> Iterator[None]:
    """Within the block, SIGINT / SIGTERM raise :class:`Interrupted` (main thread only; elsewhere a no-op)."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    os.environ["TUNE_DISABLE_SIGINT_HANDLER"] = "1"
    previous = {sig: signal.signal(sig, _handler) for sig in SIGNALS}
    _state.update(active=True, critical=0, held=None, fired=False)
    try:
        yield
    finally:
        _state["active"] = False
        if not _state["fired"]:  # after an interrupt the process is exiting: stay deaf (atexit hooks run quietly)
            for sig, handler in previous.items():
                signal.signal(sig, handler)


@contextmanager
def critical() -> Iterator[None]:
    """Hold a signal back until the block is done (nestable); a no-op outside :func:`catch_signals`."""
    _state["critical"] += 1
    try:
        yield
    finally:
        _state["critical"] -= 1
        held = _state["held"]
        if not _state["critical"] and held is not None and _state["active"] and not _state["fired"]:
            _state["held"] = None
            _state["fired"] = True
            raise Interrupted(held)


def reinstall() -> None:
    """Take the signals back after ``ray.init``: Ray's core worker installs its own SIGTERM handler (it prints a
    stack and aborts). A no-op outside :func:`catch_signals`."""
    if _state["active"] and not _state["fired"]:
        for sig in SIGNALS:
            signal.signal(sig, _handler)


def ignore_further() -> None:
    """After an interrupt: ignore SIGINT / SIGTERM while the CLI shuts Ray down and prints its last line."""
    for sig in SIGNALS:
        try:
            signal.signal(sig, signal.SIG_IGN)
        except ValueError:  # not the main thread
            pass
