"""Live clip progress: actors report each finished clip to a counter actor; the driver shows a bar or plain lines."""

from __future__ import annotations

import time

import pytest

from preprocessing.features.progress import ClipProgress, report

pytestmark = pytest.mark.ray


def _wait_for(live: ClipProgress, processed: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while live.seen[0] < processed and time.monotonic() < deadline:
        time.sleep(0.05)


def test_without_a_terminal_a_plain_line_per_quarter(ray_local, capsys):
    with ClipProgress(8, terminal=False, interval=0.05) as live:
        for i in range(8):
            report(live.counter, {"status": "rejected" if i == 3 else "ok"})
            _wait_for(live, i + 1)
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("preprocessed")]
    assert lines[-1] == "preprocessed 8/8 clips (1 rejected)"
    assert 2 <= len(lines) <= 4  # at most one per quarter, and more than the last alone when polled in between
    assert live.seen == (8, 1)


def test_in_a_terminal_one_bar_counts_clips_and_rejects(ray_local, capsys):
    with ClipProgress(5, terminal=True, interval=0.05) as live:
        for status in ("ok", "ok", "rejected", "ok", "ok"):
            report(live.counter, {"status": status})
    out = capsys.readouterr().out
    assert "clips 5/5" in out and "1 rejected" in out
    assert "preprocessed" not in out  # no plain lines beside the bar


def test_no_counter_means_nobody_is_watching():
    class Counter:  # what a counter actor's handle looks like to ``report``
        calls: list = []

        class add:  # noqa: N801
            @staticmethod
            def remote(processed, rejected):
                Counter.calls.append((processed, rejected))

    assert report(None, {"status": "ok"}) is None  # an actor started without a display: a no-op
    report(Counter, {"status": "ok"})
    report(Counter, {"status": "rejected"})
    assert Counter.calls == [(1, 0), (1, 1)]  # each clip counted once, a rejected one as a reject
