"""The live display of a LOSO run in a terminal: a tqdm bar of folds done / total, configurations, best, ETA, and
under it the latest epoch (phase, epoch, loss) of every fold running now.

Without a terminal (CI, ``ray job submit``, a log file) the search prints one plain line per finished fold instead
(``LosoSearch._progress``). Other lines (the probe's result, a failed configuration) are written above the bar.
"""

from __future__ import annotations

import math
import os
import shutil
import sys

from tqdm import tqdm


def format_minutes(seconds: float) -> str:
    """``125.4`` -> ``"2m05s"``; ``"-"`` for an unknown (NaN) duration."""
    if not math.isfinite(seconds):
        return "-"
    minutes, secs = divmod(int(round(seconds)), 60)
    return f"{minutes}m{secs:02d}s"


def timing_text(started_ago: float, done_now: int, remaining: int) -> str:
    """``"elapsed 1m00s | ETA 2m00s"``: the ETA from the folds finished by this process (a resumed run's earlier
    folds do not count)."""
    eta = started_ago / done_now * max(0, remaining) if done_now else math.nan
    return f"elapsed {format_minutes(started_ago)} | ETA {format_minutes(eta)}"


class FoldDisplay:
    """A tqdm bar fed by ``LosoSearch.on_progress``; ``write`` prints a line above it."""

    def __init__(self, total: int, initial: int = 0, desc: str = "folds"):
        try:  # a terminal that reports no size (a bare pseudo-terminal) gets a fixed width
            sized = os.get_terminal_size(sys.stdout.fileno()).columns > 0
        except (AttributeError, OSError, ValueError):
            sized = False
        self.bar = tqdm(total=total, initial=initial, unit="fold", file=sys.stdout, dynamic_ncols=sized,
                        ncols=None if sized else shutil.get_terminal_size((100, 24)).columns, smoothing=0.0,
                        bar_format=desc + " {n_fmt}/{total_fmt} |{bar}| {desc} [{elapsed} elapsed, ETA {remaining}]")
        self.bar.set_description_str("configs - | best -", refresh=False)
        self.running: dict[str, str] = {}  # fold -> its latest epoch, e.g. "c000 casme2/sub01 train 3 loss 0.712"
        self.epochs = tqdm(total=0, position=1, file=sys.stdout, bar_format="{desc}", leave=False,
                           dynamic_ncols=sized, ncols=None if sized else shutil.get_terminal_size((100, 24)).columns)

    def __call__(self, *, done: int, total: int, configs_done: int, configs_total: int, best: str) -> None:
        self.bar.total = total
        self.bar.set_description_str(f"configs {configs_done}/{configs_total} | {best}", refresh=False)
        self.bar.update(max(0, done - self.bar.n))

    def fold_epoch(self, task, phase: str | None, epoch: int, values: dict[str, float]) -> None:
        """``LosoSearch.on_fold_epoch``: a running fold finished an epoch (``phase`` None: the fold is done)."""
        key = f"{task.config_id} {task.fold.name}"
        if phase is None:
            self.running.pop(key, None)
        else:
            shown = " ".join(f"{name} {value:.3f}" for name, value in values.items())
            self.running[key] = f"{key} {phase} epoch {epoch} {shown}"
        text = " | ".join(self.running[k] for k in sorted(self.running))
        self.epochs.set_description_str(f"running: {text}" if text else "", refresh=True)

    def write(self, line: str) -> None:
        self.bar.write(line, file=sys.stdout)

    def close(self) -> None:
        self.epochs.close()
        self.bar.close()
