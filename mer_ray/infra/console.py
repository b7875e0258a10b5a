"""A quiet console for the CLIs: Ray's, Ray Data's and Optuna's log lines go to a log file, ours to the terminal.

:func:`quiet` points the process's file descriptors 1 and 2 at a log file (so the C++ core worker's lines, the Ray
processes started here and any stray library print land there) and gives ``sys.stdout`` / ``sys.stderr`` copies of
the terminal's descriptors (so the CLI's own lines still show). Library loggers (``ray*``, ``optuna``) are given a
handler that writes to the log file. ``--verbose`` skips all of it: everything shows, as before.

Only done where ``sys.stdout`` / ``sys.stderr`` are the process's real descriptors 1 and 2 (a CLI), never inside a
test runner that captures them.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
from pathlib import Path

LIBRARY_LOGGERS = ("ray", "optuna")


class QuietConsole:
    """Where the library output of this process goes; :meth:`attach` moves it to another file (the run folder)."""

    def __init__(self, log_file: Path):
        self.log_file = Path(log_file)
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_file, "a", buffering=1, encoding="utf-8")  # noqa: SIM115 (lives with the process)
        self._handler = _LogFileHandler(self._log)
        self._handler.setLevel(logging.INFO)
        self._handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        sys.stdout.flush()
        sys.stderr.flush()
        terminal_out, terminal_err = os.dup(1), os.dup(2)
        os.dup2(self._log.fileno(), 1)
        os.dup2(self._log.fileno(), 2)
        sys.stdout = os.fdopen(terminal_out, "w", buffering=1, encoding="utf-8", errors="replace")
        sys.stderr = os.fdopen(terminal_err, "w", buffering=1, encoding="utf-8", errors="replace")
        self.route_library_logs()

    @property
    def stream(self):
        """The open log file (a real descriptor: ``faulthandler`` can write to it)."""
        return self._log

    def route_library_logs(self) -> None:
        """Send the library loggers configured so far to the log file (call again after importing more of Ray)."""
        for name in list(logging.root.manager.loggerDict):
            if name.split(".")[0] not in LIBRARY_LOGGERS:
                continue
            logger = logging.getLogger(name)
            if logger.handlers:
                logger.handlers = [self._handler]
        for name in LIBRARY_LOGGERS:
            logger = logging.getLogger(name)
            logger.handlers = [self._handler]
            logger.propagate = False

    def attach(self, log_file: Path) -> None:
        """Continue in ``log_file`` (what was logged so far is copied there first)."""
        log_file = Path(log_file)
        if log_file.resolve() == self.log_file.resolve():
            return
        log_file.parent.mkdir(parents=True, exist_ok=True)
        self._log.flush()
        shutil.copyfile(self.log_file, log_file)
        old, old_path = self._log, self.log_file
        self._log = open(log_file, "a", buffering=1, encoding="utf-8")  # noqa: SIM115
        os.dup2(self._log.fileno(), 1)
        os.dup2(self._log.fileno(), 2)
        self._handler.setStream(self._log)
        self.log_file = log_file
        old.close()
        old_path.unlink(missing_ok=True)


class _LogFileHandler(logging.StreamHandler):
    """A log-file handler that drops a record it cannot write (a full disk) instead of printing a traceback on the
    terminal for every line: the CLI's own error line says what happened."""

    def handleError(self, record: logging.LogRecord) -> None:
        if not isinstance(sys.exc_info()[1], OSError):
            super().handleError(record)


_active: list[QuietConsole] = []


def quiet(log_file: Path, *, verbose: bool = False) -> QuietConsole | None:
    """Start the quiet console into ``log_file`` unless ``verbose`` or the streams are not the real descriptors."""
    if verbose or _active:
        return _active[0] if _active else None
    try:
        real = sys.stdout.fileno() == 1 and sys.stderr.fileno() == 2
    except (AttributeError, OSError, ValueError):  # a test runner's capture object
        real = False
    if not real:
        return None
    _active.append(QuietConsole(log_file))
    return _active[0]


def active() -> QuietConsole | None:
    """The quiet console of this process, if one is on."""
    return _active[0] if _active else None


def interactive() -> bool:
    """Whether the CLI's own output goes to a terminal (a live display then replaces the per-event lines)."""
    try:
        return sys.stdout.isatty()
    except (AttributeError, ValueError):
        return False
