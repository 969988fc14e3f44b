"""The sandboxed tracer on the programs the issue names: loops, recursion, generators, exceptions
raised and caught, comprehensions, closures, classes with methods, unprintable objects, huge values
and programs that never halt. Every program runs in one sandbox batch per mode (traced, untraced,
traced again), so the suite pays for three sandbox starts, not thirty."""

from __future__ import annotations

import json

import pytest

from tracemill.records import canonical_json
from tracemill.sandbox import bwrap_available
from tracemill.trace import cwm
from tracemill.trace.record import trace_record
from tracemill.trace.runner import TraceSettings, trace_items

pytestmark = pytest.mark.sandbox

PROGRAMS = {
    "loop": ("def f(n):\n    total = 0\n    for i in range(n):\n        total += i\n    return total\n", "f", [4]),
    "while": (("def f(n):\n    steps = 0\n    while n != 1:\n        n = n // 2 if n % 2 == 0 else 3 * n + 1\n"
              "        steps += 1\n    return steps\n"), "f", [6]),
    "recursion": ("def fact(n):\n    if n <= 1:\n        return 1\n    return n * fact(n - 1)\n", "fact", [4]),
    "generator": (("def gen(n):\n    for i in range(n):\n        yield i * i\n\n\ndef f(n):\n    out = []\n"
                  "    for v in gen(n):\n        out.append(v)\n    return out\n"), "f", [3]),
    "raised": ("def f(x):\n    if x < 0:\n        raise ValueError(f'negative: {x}')\n    return x\n", "f", [-2]),
    "caught": (("def check(x):\n    raise KeyError(x)\n\n\ndef f(x):\n    try:\n        check(x)\n"
               "    except KeyError as e:\n        msg = 'missing ' + str(e)\n    return msg\n"), "f", ["k"]),
    "comprehension": (("def f(words):\n    lengths = {w: len(w) for w in words}\n"
                      "    longs = [w for w in words if lengths[w] > 2]\n    return longs, sum(x for x in lengths.values())\n"),
                      "f", [["ab", "abc", "abcd"]]),
    "closure": (("def make(k):\n    def add(x):\n        return x + k\n    return add\n\n\ndef f(k, xs):\n"
                "    add = make(k)\n    return [add(x) for x in xs]\n"), "f", [10, [1, 2]]),
    "class": (("class Acc:\n    def __init__(self):\n        self.items = []\n\n    def add(self, x):\n"
              "        self.items.append(x)\n        return len(self.items)\n\n    def __repr__(self):\n"
              "        return f'Acc({self.items})'\n\n\ndef f(xs):\n    acc = Acc()\n    for x in xs:\n"
              "        n = acc.add(x)\n    return acc, n\n"), "f", [[3, 4]]),
    "unprintable": (("class Opaque:\n    pass\n\n\nclass Broken:\n    def __repr__(self):\n"
                    "        raise RuntimeError('no')\n\n\ndef f():\n    o = Opaque()\n    b = Broken()\n"
                    "    s = {'z', 'a', 'm'}\n    return o, b, s\n"), "f", []),
    "huge": ("def f(n):\n    big = 3 ** n\n    text = 'y' * n\n    xs = list(range(n))\n    return len(text), xs[-1]\n",
             "f", [20000]),
    "infinite_python": ("def f(x):\n    while True:\n        x = (x * 7 + 1) % 101\n", "f", [1]),
    "infinite_swallowing": (("def f():\n    while True:\n        try:\n            x = 1\n"
                            "        except BaseException:\n            pass\n"), "f", []),
    "infinite_in_c": ("def f():\n    return sum(range(10 ** 14))\n", "f", []),
    "after_the_hang": ("def f(a, b=2):\n    return a * b\n", "f", [21]),
    "printing": ("def f(x):\n    print('hello', x)\n    return x\n", "f", [1]),
    "hijack": ("import sys\n\n\ndef f():\n    sys.settrace(None)\n    x = 1\n    return x\n", "f", []),
}
SETTINGS = TraceSettings(max_steps=500, time_s=1.0)


def _items():
    return [{"key": k, "source": src, "entry": entry, "args": args, "kwargs": {}}
            for k, (src, entry, args) in PROGRAMS.items()]


def _records(results: dict) -> dict:
    out = {}
    for key, (src, entry, args) in PROGRAMS.items():
        cand = {"id": f"{key}#0", "snippet_id": key, "input_index": 0, "source": src, "entry": entry,
                "inputs": {"args": args, "kwargs": {}}}
        out[key] = trace_record(cand, results[key], SETTINGS.tracer_settings())
    return out


@pytest.fixture(scope="module")
def traced():
    if not bwrap_available():
        pytest.skip("bubblewrap not installed")
    return _records(trace_items(_items(), SETTINGS))


@pytest.fixture(scope="module")
def untraced():
    if not bwrap_available():
        pytest.skip("bubblewrap not installed")
    return trace_items(_items(), SETTINGS, traced=False)


def _kinds(rec):
    return [(e["kind"], e["func"], e["line"]) for e in rec["events"]]


def test_loop_records_every_iteration(traced):
    rec = traced["loop"]
    assert rec["status"] == "complete" and rec["return_value"] == "6"
    totals = [e["locals"].get("total") for e in rec["events"] if e["kind"] == "line" and e["line"] == 4]
    assert totals == ["0", "0", "1", "3"]  # locals before each execution of `total += i`


def test_recursion_traces_each_frame_with_its_depth(traced):
    rec = traced["recursion"]
    calls = [(e["depth"], e["locals"]["n"]) for e in rec["events"] if e["kind"] == "call"]
    assert calls == [(0, "4"), (1, "3"), (2, "2"), (3, "1")]
    returns = [e["value"] for e in rec["events"] if e["kind"] == "return"]
    assert returns == ["1", "2", "6", "24"]


def test_generator_resumptions_are_call_and_yields_are_return(traced):
    rec = traced["generator"]
    gen = [(e["kind"], e.get("value")) for e in rec["events"] if e["func"] == "gen" and e["kind"] != "line"]
    assert gen[:4] == [("call", None), ("return", "0"), ("call", None), ("return", "1")]
    assert len({e["frame"] for e in rec["events"] if e["func"] == "gen"}) == 1  # one frame, resumed
    assert rec["return_value"] == "[0, 1, 4]"


def test_raised_exception_ends_the_trace_with_an_exception_frame(traced):
    rec = traced["raised"]
    assert rec["status"] == "error" and rec["return_value"] is None
    assert rec["exception"] == {"type": "ValueError", "message": "negative: -2", "repr": "ValueError('negative: -2')"}
    assert rec["events"][-1]["kind"] == "exception"  # no fake `return None` after an unwinding frame
    assert rec["cwm_text"].endswith("<|arg_sep|>\"ValueError('negative: -2')\"<|frame_sep|>")


def test_caught_exception_shows_in_both_frames_then_the_handler_runs(traced):
    rec = traced["caught"]
    kinds = [(e["kind"], e["func"]) for e in rec["events"] if e["kind"] in ("exception", "return")]
    assert kinds == [("exception", "check"), ("exception", "f"), ("return", "f")]
    assert rec["return_value"] == "\"missing 'k'\""


def test_comprehensions_are_their_own_frames_without_compiler_locals(traced):
    rec = traced["comprehension"]
    funcs = {e["func"] for e in rec["events"]}
    assert {"f.<locals>.<dictcomp>", "f.<locals>.<listcomp>", "f.<locals>.<genexpr>"} <= funcs
    assert all(".0" not in e["locals"] for e in rec["events"])
    assert rec["return_value"] == "(['abc', 'abcd'], 9)"


def test_closure_sees_its_free_variable(traced):
    rec = traced["closure"]
    add_calls = [e["locals"] for e in rec["events"] if e["func"] == "make.<locals>.add" and e["kind"] == "call"]
    assert add_calls == [{"x": "1", "k": "10"}, {"x": "2", "k": "10"}]
    assert rec["return_value"] == "[11, 12]"


def test_methods_are_traced_and_instances_use_their_repr(traced):
    rec = traced["class"]
    assert {"Acc.__init__", "Acc.add"} <= {e["func"] for e in rec["events"]}
    assert rec["return_value"] == "(Acc([3, 4]), 2)"


def test_unprintable_objects_get_stable_placeholders(traced):
    rec = traced["unprintable"]
    final = rec["events"][-1]["locals"]
    assert final["o"] == "<Opaque object>"
    assert final["b"] == "<Broken object (repr raised RuntimeError)>"
    assert final["s"] == "{'a', 'm', 'z'}"
    assert "0x" not in rec["cwm_text"]


def test_huge_values_are_bounded(traced):
    rec = traced["huge"]
    last = rec["events"][-1]["locals"]
    assert last["big"].startswith("<int ") and last["big"].endswith(" bits>")
    assert last["text"].endswith("<...19800 more>")
    assert last["xs"].endswith("<...19980 more>]")
    assert rec["return_value"] == "(20000, 19999)"


def test_infinite_loop_is_truncated_by_the_step_limit(traced):
    rec = traced["infinite_python"]
    assert rec["status"] == "truncated" and rec["truncation_reason"] == "step_limit"
    assert rec["num_events"] == SETTINGS.max_steps  # deterministic cut, events kept


def test_a_program_swallowing_the_limit_is_still_stopped(traced):
    rec = traced["infinite_swallowing"]
    assert rec["status"] == "truncated" and rec["truncation_reason"] == "step_limit"


def test_a_hang_inside_c_is_truncated_by_time_and_the_batch_goes_on(traced):
    rec = traced["infinite_in_c"]
    assert rec["status"] == "truncated" and rec["truncation_reason"] == "time_limit"
    assert rec["events"] == []  # where the clock stopped is not reproducible, so no events are kept
    assert traced["after_the_hang"]["status"] == "complete" and traced["after_the_hang"]["return_value"] == "42"


def test_a_program_that_removes_the_tracer_is_labelled_not_passed_off_as_complete(traced):
    rec = traced["hijack"]
    assert (rec["status"], rec["truncation_reason"]) == ("truncated", "tracer_disabled")
    assert rec["events"][-1]["source"] == "    sys.settrace(None)"


def test_printed_output_is_captured_not_mixed_into_the_protocol(traced):
    assert traced["printing"]["stdout"] == "hello 1\n"


def test_fidelity_traced_and_untraced_runs_agree(traced, untraced):
    for key, rec in traced.items():
        if rec["status"] == "truncated":
            continue
        plain = untraced[key]
        assert plain["events"] == [], key
        assert (plain["status"], plain["return_value"], plain["exception"]) == \
            (rec["status"], rec["return_value"], rec["exception"]), key


def test_replaying_cwm_frames_gives_the_structured_locals(traced):
    for key, rec in traced.items():
        context, frames = cwm.parse(rec["cwm_text"])
        assert "# << START_OF_TRACE" in context, key
        assert [f["kind"] for f in frames] == [e["kind"] for e in rec["events"]], key
        assert [f["source"] for f in frames] == [e["source"] for e in rec["events"]], key
        resolved = cwm.resolve_locals(frames)
        for frame, full, event in zip(frames, resolved, rec["events"]):
            if frame["kind"] in ("call", "line"):
                assert full == event["locals"], (key, event)
            else:
                assert frame["value"] == event["value"], (key, event)


def test_retracing_gives_byte_identical_records(traced):
    again = _records(trace_items(_items(), SETTINGS))
    for key in PROGRAMS:
        assert canonical_json(again[key]) == canonical_json(traced[key]), key


def test_a_killed_process_labels_only_its_running_item():
    if not bwrap_available():
        pytest.skip("bubblewrap not installed")
    items = [{"key": "exit", "source": "import os\ndef f():\n    os._exit(0)\n", "entry": "f", "args": [], "kwargs": {}},
             {"key": "hog", "source": "def f():\n    xs = []\n    while True:\n        xs.append(' ' * 10**7)\n",
              "entry": "f", "args": [], "kwargs": {}},
             {"key": "ok", "source": "def f():\n    return 1\n", "entry": "f", "args": [], "kwargs": {}}]
    res = trace_items(items, TraceSettings(max_steps=10_000, time_s=5.0, memory_mb=256))
    assert (res["exit"]["status"], res["exit"]["truncation_reason"]) == ("truncated", "process_exit")
    assert (res["hog"]["status"], res["hog"]["truncation_reason"]) == ("truncated", "memory_limit")
    assert (res["ok"]["status"], res["ok"]["return_value"]) == ("complete", "1")
    assert json.dumps(res["ok"]["events"])  # a normal trace after two deaths


def test_an_item_cannot_change_the_next_one():
    if not bwrap_available():
        pytest.skip("bubblewrap not installed")
    patcher = ("import builtins, math\n\n\ndef f():\n    builtins.len = lambda x: 42\n    math.pi = 3\n"
               "    global_junk.append(1)\n    return len([])\n\n\nglobal_junk = []\n")
    user = "import math\n\n\ndef f(xs):\n    return len(xs), math.pi\n"
    res = trace_items([{"key": "patch", "source": patcher, "entry": "f", "args": [], "kwargs": {}},
                       {"key": "use", "source": user, "entry": "f", "args": [[1, 2]], "kwargs": {}}], SETTINGS)
    assert res["patch"]["return_value"] == "42"
    assert res["use"]["return_value"] == "(2, 3.141592653589793)"


def test_recursion_near_the_limit_behaves_as_untraced():
    if not bwrap_available():
        pytest.skip("bubblewrap not installed")
    src = "def fact(n):\n    if n <= 1:\n        return 1\n    return n * fact(n - 1) % 1000003\n"
    items = [{"key": "deep", "source": src, "entry": "fact", "args": [990], "kwargs": {}}]
    settings = TraceSettings(max_steps=20_000)
    traced, plain = trace_items(items, settings)["deep"], trace_items(items, settings, traced=False)["deep"]
    assert (traced["status"], traced["return_value"]) == ("complete", plain["return_value"]) == ("complete", "110558")
