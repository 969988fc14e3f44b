"""Progress: a bar on a terminal, plain lines otherwise; worker log lines become counted activities."""

from __future__ import annotations

import io
import logging

from tracemill.progress import Progress, ProgressHandler, track


class FakeTty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_plain_lines_when_not_a_terminal():
    stream = io.StringIO()
    assert list(track(range(20), "records read", stream=stream)) == list(range(20))
    lines = stream.getvalue().splitlines()
    assert lines[-1] == "  records read 20/20"
    assert len(lines) == 10  # every 2 items: a tenth of the total
    assert "\r" not in stream.getvalue()


def test_a_bar_on_a_terminal():
    stream = FakeTty()
    with Progress("tasks verified", total=3, unit="tasks", stream=stream) as progress:
        for _ in range(3):
            progress.update(note="ok")
    text = stream.getvalue()
    assert "\r" in text and "tasks verified" in text and "3/3" in text


def test_handler_counts_activities_and_prints_lines():
    stream = io.StringIO()
    handler = ProgressHandler(stream)
    log = logging.getLogger("tracemill.progress.test-lines")
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False
    try:
        log.info("graded %s on %s: %s", "r-001", "textkit-1", "resolved")
        log.info("graded %s on %s: %s", "r-002", "textkit-1", "fail")
        log.info("built env", extra={"activity": "tasks verified"})
    finally:
        log.removeHandler(handler)
    assert handler.counts() == {"rollouts graded": 2, "tasks verified": 1}
    assert stream.getvalue().splitlines() == [
        "  graded r-001 on textkit-1: resolved [rollouts graded: 1]",
        "  graded r-002 on textkit-1: fail [rollouts graded: 2]",
        "  built env [tasks verified: 1]",
    ]


def test_handler_draws_one_bar_per_activity_on_a_terminal():
    stream = FakeTty()
    handler = ProgressHandler(stream)
    record = logging.LogRecord("tracemill.progress", logging.INFO, __file__, 1, "graded %s", ("r-1",), None)
    handler.emit(record)
    handler.emit(record)
    handler.close()
    assert "rollouts graded" in stream.getvalue() and "2" in stream.getvalue()
