"""Training examples from execution traces: CWM trace prediction and neural-debugger QA.

The last step of the traces flow. Both kinds are `sft_example` records with `source: "traces"`,
so the mixer weighs them like every other source. Every answer is read off the trace, never
written by hand. Which questions a trace gets is a pure function of (seed, trace id).

- trace_prediction: user = entry + inputs + CWM's trace prompt (context with the entry marked);
  assistant = the CWM frames. Only for traces that finished (returned or raised): a target cut
  by a limit would teach the model to stop mid-program.
- debugger_qa: one session per trace: "what is the value of `x` right after line N executes for
  the k-th time?" (up to `qa_values` questions, on lines that change a variable) and "does this
  call return or raise, and what?".
"""

from __future__ import annotations

from dataclasses import dataclass

from tracemill.records import unit_interval
from tracemill.tokens import count_messages
from tracemill.trace import cwm

SOURCE = "traces"
TRACE_PREDICTION, DEBUGGER_QA = "trace_prediction", "debugger_qa"


@dataclass(frozen=True)
class ExampleSettings:
    seed: int = 0
    qa_values: int = 2
    max_target_chars: int = 64_000  # about 16k tokens at 4 chars a token


def _ordinal(k: int) -> str:
    suffix = "th" if 10 <= k % 100 <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(k % 10, "th")
    return f"{k}{suffix}"


def call_text(trace: dict) -> str:
    """`entry(arg, key=value)` with each argument as Python source (JSON inputs) or its repr."""
    inputs = trace["inputs"]
    as_repr = trace.get("source_kind") == "repo_test"  # repo calls were captured as reprs
    args = [a if as_repr else repr(a) for a in inputs.get("args", [])]
    args += [f"{k}={v if as_repr else repr(v)}" for k, v in inputs.get("kwargs", {}).items()]
    return f"{trace['entry']}({', '.join(args)})"


def _example(trace: dict, kind: str, messages: list[dict], extra: dict) -> dict:
    return {
        "id": f"{trace['id']}:{kind}",
        "source": SOURCE,
        "task_kind": kind,
        "instance_id": trace["snippet_id"],
        "traj_id": None,
        "model": None,
        "messages": messages,
        "tools": [],
        "num_tokens": count_messages(messages),  # the mixer's own count, so budgets compare
        "metadata": {"trace_id": trace["id"], "status": trace["status"], "input_hash": trace["input_hash"],
                     "source_kind": trace.get("source_kind"), **extra},
    }


def trace_prediction(trace: dict, settings: ExampleSettings) -> dict | None:
    if trace["status"] == "truncated":
        return None
    frames = cwm.render_frames(trace["events"])
    if len(frames) > settings.max_target_chars:
        return None
    prompt = (f"Predict the execution trace of `{call_text(trace)}`, frame by frame, in the trace format.\n\n"
              + cwm.render_prompt(trace["source"], trace["entry_line"]))
    return _example(trace, TRACE_PREDICTION, [{"role": "user", "content": prompt},
                                              {"role": "assistant", "content": frames}],
                    {"num_events": trace["num_events"]})


def value_questions(trace: dict) -> list[dict]:
    """Every answerable "value of `x` after line N, k-th time" question of a trace, in order."""
    events = trace["events"]
    seen: dict[int, int] = {}
    out = []
    for i, ev in enumerate(events):
        if ev["kind"] != "line":
            continue
        seen[ev["line"]] = k = seen.get(ev["line"], 0) + 1
        nxt = next((e for e in events[i + 1:] if e["frame"] == ev["frame"]), None)
        if nxt is None or nxt["kind"] == "exception":
            continue  # the line did not finish: "after it executes" has no answer
        for name, value in nxt["locals"].items():
            if ev["locals"].get(name) != value:
                out.append({"line": ev["line"], "source": ev["source"].strip(), "k": k, "name": name,
                            "answer": value, "func": ev["func"]})
    return out


def outcome_answer(trace: dict) -> str:
    if trace["status"] == "error":
        return f"It raises `{trace['exception']['repr']}`."
    return f"It returns `{trace['return_value']}`."


def debugger_qa(trace: dict, settings: ExampleSettings) -> dict | None:
    if trace["status"] == "truncated":
        return None
    candidates = value_questions(trace)
    picked: list[dict] = []
    for q in range(min(settings.qa_values, len(candidates))):
        idx = int(unit_interval(settings.seed, f"{trace['id']}:qa:{q}") * len(candidates))
        while candidates[idx] in picked:  # distinct questions; linear probe keeps it deterministic
            idx = (idx + 1) % len(candidates)
        picked.append(candidates[idx])
    picked.sort(key=lambda c: candidates.index(c))
    numbered = "".join(f"{n:>4} | {line}\n" for n, line in enumerate(trace["source"].splitlines(), 1))
    intro = (f"Here is a Python program (line numbers on the left):\n\n```python\n{numbered}```\n\n"
             f"It is called as `{call_text(trace)}`.\n\n")
    messages: list[dict] = []
    for q in picked:
        where = "" if q["func"] == trace["entry"] else f" (in `{q['func']}`)"
        question = (f"What is the value of `{q['name']}` right after line {q['line']}{where} "
                    f"(`{q['source']}`) executes for the {_ordinal(q['k'])} time?")
        messages += [{"role": "user", "content": (intro if not messages else "") + question},
                     {"role": "assistant", "content": f"`{q['name']}` is `{q['answer']}`."}]
    messages += [{"role": "user", "content": (intro if not messages else "")
                  + "Does this call return or raise, and what?"},
                 {"role": "assistant", "content": outcome_answer(trace)}]
    return _example(trace, DEBUGGER_QA, messages,
                    {"questions": [{k: q[k] for k in ("line", "k", "name")} for q in picked]})


def examples_for(trace: dict, settings: ExampleSettings = ExampleSettings()) -> list[dict]:
    """All training examples one trace yields (possibly none)."""
    return [ex for ex in (trace_prediction(trace, settings), debugger_qa(trace, settings)) if ex is not None]
