"""Training examples from traces: answers read off the trace, deterministic choice, valid records."""

from __future__ import annotations

import signal

import pytest

import schemas
from tracemill.trace import tracer
from tracemill.trace.examples import (
    DEBUGGER_QA,
    TRACE_PREDICTION,
    ExampleSettings,
    debugger_qa,
    examples_for,
    value_questions,
)
from tracemill.trace.record import trace_record

LOOP = "def f(n):\n    total = 0\n    for i in range(n):\n        total += i * 10\n    return total\n"
RAISES = "def f(x):\n    y = x + 1\n    raise ValueError(y)\n"


@pytest.fixture(autouse=True)
def alarm_handler():
    previous = signal.signal(signal.SIGALRM, tracer._on_alarm)
    yield
    signal.signal(signal.SIGALRM, previous)


def make_trace(source: str, *args, settings: dict | None = None) -> dict:
    item = {"key": "s#0", "source": source, "entry": "f", "args": list(args), "kwargs": {}}
    cfg = {**tracer.DEFAULT_SETTINGS, **(settings or {})}
    result = tracer.run_snippet(item, cfg)
    cand = {"id": "s#0", "snippet_id": "s", "input_index": 0, "source": source, "entry": "f",
            "inputs": {"args": list(args), "kwargs": {}}}
    return trace_record(cand, result, cfg)


def test_value_questions_answer_with_the_locals_after_the_line():
    qs = value_questions(make_trace(LOOP, 3))
    totals = [(q["k"], q["answer"]) for q in qs if q["name"] == "total" and q["line"] == 4]
    # After the k-th `total += i * 10`; the 1st adds 0, changes nothing and is not asked about.
    assert totals == [(2, "10"), (3, "30")]
    loop_heads = [(q["k"], q["name"], q["answer"]) for q in qs if q["line"] == 3]
    assert loop_heads[:2] == [(1, "i", "0"), (2, "i", "1")]


def test_a_line_that_raised_gets_no_value_question():
    qs = value_questions(make_trace(RAISES, 1))
    assert [q["line"] for q in qs] == [2]


def test_trace_prediction_prompt_and_target():
    trace = make_trace(LOOP, 2)
    ex = examples_for(trace)[0]
    assert ex["task_kind"] == TRACE_PREDICTION and ex["source"] == "traces"
    user, assistant = ex["messages"]
    assert "`f(2)`" in user["content"]
    assert user["content"].endswith("    return total\n<|frame_sep|>")
    assert "# << START_OF_TRACE" in user["content"]
    assert assistant["content"] == trace["cwm_text"][len(trace["cwm_text"]) - len(assistant["content"]):]
    assert assistant["content"].startswith("<|call_sep|>")


def test_debugger_qa_states_how_the_call_ends():
    qa = debugger_qa(make_trace(RAISES, 1), ExampleSettings())
    assert qa["messages"][-1] == {"role": "assistant", "content": "It raises `ValueError(2)`."}
    qa = debugger_qa(make_trace(LOOP, 3), ExampleSettings())
    assert qa["messages"][-1]["content"] == "It returns `30`."


def test_question_choice_depends_only_on_seed_and_id():
    trace = make_trace(LOOP, 4)
    a = debugger_qa(trace, ExampleSettings(seed=1, qa_values=3))
    b = debugger_qa(dict(trace), ExampleSettings(seed=1, qa_values=3))
    assert a == b
    picks = {str(debugger_qa(trace, ExampleSettings(seed=s, qa_values=3))["metadata"]["questions"]) for s in range(6)}
    assert len(picks) > 1  # the seed matters
    assert len(a["metadata"]["questions"]) == 3 == len({str(q) for q in a["metadata"]["questions"]})


def test_truncated_traces_yield_no_examples():
    trace = make_trace("def f():\n    while True:\n        pass\n", settings={"max_steps": 20})
    assert trace["status"] == "truncated"
    assert examples_for(trace) == []


def test_examples_are_valid_sft_records():
    for ex in examples_for(make_trace(LOOP, 3)) + examples_for(make_trace(RAISES, 1)):
        assert schemas.errors("sft_example", ex) == [], ex["id"]
        assert ex["num_tokens"] > 0
    kinds = sorted(ex["task_kind"] for ex in examples_for(make_trace(LOOP, 3)))
    assert kinds == [DEBUGGER_QA, TRACE_PREDICTION]


def test_trace_record_is_schema_valid():
    assert schemas.errors("execution_trace", make_trace(LOOP, 3)) == []
