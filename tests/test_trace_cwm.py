"""CWM text rendering: the published wire format, the ".." rule, and a lossless round trip.

These run the tracer in-process (no sandbox) on trusted literal programs, so they also cover the
tracer on machines without bubblewrap.
"""

from __future__ import annotations

import json
import signal

import pytest

from tracemill.trace import cwm, tracer

SOURCE = (
    "def double(x):\n"
    "    return x * 2\n"
    "\n"
    "\n"
    "def f(n):\n"
    "    acc = []\n"
    "    for i in range(n):\n"
    "        acc.append(double(i))\n"
    "    return acc\n"
)


@pytest.fixture
def alarm_handler():
    previous = signal.signal(signal.SIGALRM, tracer._on_alarm)
    yield
    signal.signal(signal.SIGALRM, previous)


def trace_in_process(source: str, entry: str, *args) -> dict:
    item = {"key": "t", "source": source, "entry": entry, "args": list(args), "kwargs": {}}
    return tracer.run_snippet(item, dict(tracer.DEFAULT_SETTINGS))


def test_context_marks_the_entry_line_and_ends_with_frame_sep(alarm_handler):
    res = trace_in_process(SOURCE, "f", 2)
    text = cwm.render(SOURCE, res["events"], 5)
    assert text.startswith("<|trace_context_start|>def double(x):\n")
    assert "def f(n):  # << START_OF_TRACE\n    acc = []\n" in text
    assert text.index("<|frame_sep|>") == text.index("    return acc\n") + len("    return acc\n")


def test_frames_follow_the_published_shapes(alarm_handler):
    res = trace_in_process(SOURCE, "f", 1)
    frames = cwm.render_frames(res["events"])
    first = frames.split("<|frame_sep|>")[0]
    assert first == '<|call_sep|>{"n": "1"}<|action_sep|>def f(n):\n'
    assert '<|return_sep|><|action_sep|>    return x * 2\n<|arg_sep|>"0"<|frame_sep|>' in frames
    assert frames.endswith('<|return_sep|><|action_sep|>    return acc\n<|arg_sep|>"[0]"<|frame_sep|>')


def test_unchanged_locals_are_dotted_but_never_across_a_call_or_return(alarm_handler):
    res = trace_in_process(SOURCE, "f", 2)
    _, frames = cwm.parse(cwm.render(SOURCE, res["events"], 5))
    observations = [(f["kind"], f["locals"]) for f in frames if f["kind"] in ("call", "line")]
    assert observations[1] == ("line", {"n": ".."})  # first line after the call: n unchanged
    after_return = next(i for i, f in enumerate(frames) if f["kind"] == "return") + 1
    assert ".." not in frames[after_return]["locals"].values()  # the caller is written out in full


def test_values_are_json_encoded_repr_strings():
    events = [{"kind": "call", "frame": 0, "depth": 0, "func": "f", "line": 1, "source": "def f(s):",
               "locals": {"s": "'a\"b'"}},
              {"kind": "return", "frame": 0, "depth": 0, "func": "f", "line": 2, "source": "    return s",
               "locals": {"s": "'a\"b'"}, "value": "'a\"b'"}]
    text = cwm.render_frames(events)
    assert text == ('<|call_sep|>{"s": "\'a\\"b\'"}<|action_sep|>def f(s):\n<|frame_sep|>'
                    '<|return_sep|><|action_sep|>    return s\n<|arg_sep|>"\'a\\"b\'"<|frame_sep|>')
    assert json.loads(text.split("<|arg_sep|>")[1].split("<|frame_sep|>")[0]) == "'a\"b'"


def test_round_trip_restores_every_observation(alarm_handler):
    res = trace_in_process(SOURCE, "f", 3)
    context, frames = cwm.parse(cwm.render(SOURCE, res["events"], 5))
    assert context == cwm.render_context(SOURCE, 5)
    resolved = cwm.resolve_locals(frames)
    for frame, full, ev in zip(frames, resolved, res["events"], strict=True):
        assert frame["kind"] == ev["kind"]
        if ev["kind"] in ("call", "line"):
            assert full == ev["locals"]
        else:
            assert frame["value"] == ev["value"]


def test_parse_rejects_text_that_is_not_a_trace():
    with pytest.raises(ValueError, match="trace_context_start"):
        cwm.parse("def f(): pass")


def test_in_process_tracer_reports_load_errors(alarm_handler):
    res = trace_in_process("def f(:\n", "f")
    assert res["load_error"].startswith("SyntaxError")
    res = trace_in_process("def g():\n    return 1\n", "f")
    assert res["load_error"].startswith("KeyError")
