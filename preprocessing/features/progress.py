"""Live progress of a preprocessing run: clips done (and rejected) out of the total, while Ray Data works.

The ``ClipProcessor`` actors report every finished clip to one small counter actor (:class:`ClipCounter`, no CPU
reserved; the calls are fire-and-forget). A thread on the driver polls it: in a terminal it drives one tqdm bar
(clips, rejected, rate, ETA); without one (CI, a log file) it prints a plain line at each quarter of the run.
"""

from __future__ import annotations

import sys
import threading
from typing import Any

from tqdm import tqdm

PLAIN_STEPS = 4  # without a terminal: one line per quarter of the clips


def _counter_class():
    import ray

    @ray.remote(num_cpus=0)
    class ClipCounter:
        """Clips finished by the actors so far: ``(done, rejected)`` (done counts the rejected ones too)."""

        def __init__(self):
            self.done = 0
            self.rejected = 0

        def add(self, done: int, rejected: int) -> None:
            self.done += done
            self.rejected += rejected

        def read(self) -> tuple[int, int]:
            return self.done, self.rejected

    return ClipCounter


class ClipProgress:
    """Context manager on the driver: ``counter`` is the handle the actors report to (``report`` below); ``seen``
    is the last ``(done, rejected)`` read."""

    def __init__(self, total: int, *, already: int = 0, terminal: bool | None = None, interval: float = 0.5):
        self.total, self.already, self.interval = total, already, interval
        self.terminal = sys.stdout.isatty() if terminal is None else terminal
        self.counter: Any = None
        self.bar: tqdm | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._printed = 0  # quarters announced (no terminal)
        self.seen = (0, 0)

    def __enter__(self) -> ClipProgress:
        self.counter = _counter_class().remote()
        if self.terminal:
            self.bar = tqdm(total=self.total, unit="clip", file=sys.stdout, smoothing=0.1, dynamic_ncols=True,
                            bar_format="clips {n_fmt}/{total_fmt} |{bar}| {desc} "
                                       "[{elapsed} elapsed, ETA {remaining}, {rate_fmt}]")
            self.bar.set_description_str("0 rejected", refresh=True)
        self._thread = threading.Thread(target=self._poll, name="clip-progress", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if exc[0] is None:
            self._update()  # the final count
        if self.bar is not None:
            self.bar.close()
        import ray

        try:
            ray.kill(self.counter)
        except Exception:  # the cluster may already be going down (an interrupt)
            pass

    def _poll(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self._update()
            except Exception:  # a progress display must never break the run
                return

    def _update(self) -> None:
        import ray

        done, rejected = ray.get(self.counter.read.remote(), timeout=10)
        self.seen = (done, rejected)
        if self.bar is not None:
            self.bar.set_description_str(f"{rejected} rejected", refresh=False)
            self.bar.update(max(0, done - self.bar.n))
            return
        quarter = done * PLAIN_STEPS // max(self.total, 1)
        if quarter > self._printed:
            self._printed = quarter
            print(f"preprocessed {done}/{self.total} clips ({rejected} rejected)", flush=True)


def report(counter: Any, row: dict[str, Any]) -> None:
    """From an actor: one clip's shard row is done (``counter`` None: nobody is watching)."""
    if counter is not None:
        from preprocessing.features.shard_schema import OK

        counter.add.remote(1, int(row.get("status") != OK))
