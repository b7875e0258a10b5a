"""One error policy for every command line (``mer_ray.loso``, ``fit``, ``predict``, ``score``, ``compare`` and
``python -m preprocessing``).

A user error (a wrong argument, a missing or unusable file, a folder in use) is one line on stderr,
``error: <message>``, and exit status 2; no traceback. The libraries raise :class:`UsageError` or their own typed
errors (``FeaturesError``, ``DatasetError``, ``BundleError``, ...); each CLI names the typed ones it maps at its
boundary (:func:`run_cli`). Anything else is a bug or a failure and keeps its traceback. SIGINT / SIGTERM still end
a command with 130 / 143 (:mod:`mer_ray.infra.interrupts`); argparse's own usage errors exit 2 as well.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

USAGE_EXIT = 2  # the exit status of a user error (argparse uses the same)


class UsageError(Exception):
    """What the user asked for cannot be done; the message (one line) says what was found and what to do."""


@contextmanager
def as_usage_error(*types: type[BaseException]) -> Iterator[None]:
    """Within the block, an error of ``types`` (e.g. the ``ValueError`` of parsing an argument) is a user error:
    re-raised as :class:`UsageError` with the same message (the original chained as its cause)."""
    try:
        yield
    except UsageError:
        raise
    except types as err:
        raise UsageError(str(err)) from err


def error_line(err: BaseException) -> str:
    """``error: <message>`` on one line (a multi-line message is joined; an empty one names the error type)."""
    message = " ".join(line.strip() for line in str(err).splitlines() if line.strip())
    return f"error: {message or type(err).__name__}"


def report_usage_error(err: BaseException) -> int:
    """Print :func:`error_line` on stderr; return :data:`USAGE_EXIT`."""
    print(error_line(err), file=sys.stderr, flush=True)
    return USAGE_EXIT


def run_cli(command: Callable[[], int], *, user_errors: tuple[type[BaseException], ...] = (),
            on_interrupt: Callable[..., int] | None = None) -> int:
    """Run a CLI's ``command`` under the error policy; returns its exit status.

    Args:
        command: the command's work (everything after argument parsing); returns the exit status.
        user_errors: the library error types this CLI reports as user errors, beside :class:`UsageError`.
        on_interrupt: with it, SIGINT / SIGTERM raise :class:`~mer_ray.infra.interrupts.Interrupted` inside
            ``command`` (:func:`~mer_ray.infra.interrupts.catch_signals`) and ``on_interrupt(stop)`` cleans up and
            returns the status (``stop.exit_code``: 130 / 143); without it signals keep their default behaviour.
    """
    caught = (UsageError, *user_errors)
    if on_interrupt is None:
        try:
            return command()
        except caught as err:
            return report_usage_error(err)
    from mer_ray.infra.interrupts import Interrupted, catch_signals, ignore_further

    with catch_signals():
        try:
            return command()
        except caught as err:
            return report_usage_error(err)
        except Interrupted as stop:
            ignore_further()
            return on_interrupt(stop)
