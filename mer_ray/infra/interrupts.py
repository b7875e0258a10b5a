"""Clean interrupts of the CLIs: SIGINT / SIGTERM become one exception, raised where it is safe.

``with catch_signals():`` turns the first SIGINT or SIGTERM into :class:`Interrupted` (a ``BaseException``, so no
``except Exception`` on the way swallows it) and ignores further ones while the CLI cleans up. Inside
``with critical():`` (a finished fold being persisted) the signal is held back and raised when the block ends, so
a fold file and its bookkeeping are written whole or not at all. Ray Tune's own SIGINT handler is turned off
(``TUNE_DISABLE_SIGINT_HANDLER``): it would print its own messages and wait for the running trials.

The way out is bounded: :func:`wind_down` gives the clean-up (shutting Ray down) a fixed time, and
:func:`exit_process` ends an interrupted process without waiting for threads a library left running. A signal can
land anywhere in Ray Tune's loop; whatever state that leaves behind must not keep the CLI from printing its line
and exiting.
"""

from __future__ import annotations

import faulthandler
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import NoReturn, TextIO

log = logging.getLogger(__name__)

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
    # `kill -USR1 PID`: every thread's stack to descriptor 2 (the quiet console's log), for a run that seems stuck
    try:
        faulthandler.register(signal.SIGUSR1, file=sys.__stderr__, all_threads=True)
    except (AttributeError, OSError, ValueError):  # no descriptor 2
        pass
    _state.update(active=True, critical=0, held=None, fired=False)
    try:
        yield
    finally:
        _state["active"] = False
        if not _state["fired"]:  # after an interrupt the process is exiting: stay deaf (atexit hooks run quietly)
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            faulthandler.unregister(signal.SIGUSR1)  # a no-op if it was never registered


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


def interrupted() -> bool:
    """Whether this process got SIGINT / SIGTERM inside :func:`catch_signals` (and is on its way out)."""
    return bool(_state["fired"])


def wind_down(cleanup: Callable[[], None], *, within: float = 30.0, stacks: TextIO | None = None) -> bool:
    """Run ``cleanup`` (after an interrupt: shut Ray down) in a daemon thread, waiting at most ``within`` seconds.

    Returns whether it finished in time. If not, every thread's stack is written to ``stacks`` (a file with a real
    descriptor: the CLI's log; default stderr), so a hang is diagnosable instead of endless. An exception of
    ``cleanup`` is logged, never raised: the CLI still prints its line.
    """
    done = threading.Event()

    def run() -> None:
        try:
            cleanup()
        except Exception:
            log.warning("clean-up after the interrupt failed", exc_info=True)
        finally:
            done.set()

    threading.Thread(target=run, name="interrupt-cleanup", daemon=True).start()
    if done.wait(within):
        return True
    target = stacks or sys.stderr
    try:
        print(f"clean-up after the interrupt still running after {within:g} s; the threads' stacks:", file=target,
              flush=True)
        faulthandler.dump_traceback(file=target, all_threads=True)
    except (OSError, ValueError, AttributeError):  # no real descriptor to write to: nothing more to say
        pass
    return False


def exit_process(code: int) -> NoReturn:
    """End a CLI with ``code``. After an interrupt the process ends at once (streams and log handlers flushed first)
    rather than in the interpreter's shutdown, which joins every non-daemon thread and runs every atexit hook: an
    interrupted Ray Tune loop can leave one that never returns."""
    if not interrupted():
        sys.exit(code)
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError, AttributeError):
            pass
    os._exit(code)
