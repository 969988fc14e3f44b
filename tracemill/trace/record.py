"""The `execution_trace` record: a tracer result joined with its candidate, plus the CWM text.

Sits after sandboxed tracing and before validation. A result that is not a trace of the program
becomes a Rejection with a reason code, not a record: the snippet did not load
(`snippet_load_failed`), the call never started because the arguments did not fit
(`entry_call_failed`), or the entry ran none of the traced source (`entry_not_traced`).
"""

from __future__ import annotations

import hashlib

from tracemill.records import ORIGIN, Rejection, stable_hash
from tracemill.trace import cwm

STATUSES = ("complete", "truncated", "error")
# A time-limited trace stops wherever the clock happened to be, so its events differ run to run;
# only its label is kept. Step-limited traces stop at a fixed count and keep their events.
NONDETERMINISTIC_TRUNCATIONS = ("time_limit", "process_exit")


def input_hash(source: str, entry: str, inputs: dict) -> str:
    """The exact-dedup key of a candidate: what would be executed, nothing else."""
    return stable_hash("trace-input", source, entry, inputs)


def entry_line(source: str, entry: str, events: list[dict]) -> int:
    """1-based line of the entry function's first line (its call event, else its `def`)."""
    if events and events[0]["kind"] == "call":
        return int(events[0]["line"])
    for i, line in enumerate(source.splitlines(), 1):
        stripped = line.lstrip()
        if stripped.startswith((f"def {entry}(", f"async def {entry}(", f"class {entry}")):
            return i
    return 0


def trace_record(candidate: dict, result: dict, settings: dict) -> dict | Rejection:
    """Build the execution_trace record for one candidate from the tracer's result."""
    if result.get("load_error"):
        return Rejection("snippet_load_failed", detail=result["load_error"][:500])
    events = result.get("events") or []
    status = result.get("status")
    if status == "error" and not events:
        # The exception came from calling the entry (wrong arity, not callable), not from its body.
        exc = result.get("exception") or {}
        return Rejection("entry_call_failed", detail=f"{exc.get('type')}: {exc.get('message', '')}"[:500])
    if status not in STATUSES:
        raise ValueError(f"tracer returned status {status!r}")
    if status != "truncated" and not events:
        # A generator or coroutine function returns without running its body; an alias of a
        # builtin runs none of the source. Either way there is nothing to learn from.
        return Rejection("entry_not_traced", detail=f"{candidate['entry']} ran no traced code "
                         f"(returned {str(result.get('return_value'))[:100]})")
    reason = result.get("truncation_reason")
    if status == "truncated" and reason in NONDETERMINISTIC_TRUNCATIONS:
        events = []
    source, entry = candidate["source"], candidate["entry"]
    line = entry_line(source, entry, events)
    text = cwm.render(source, events, line)
    rec = {
        "id": candidate["id"],
        "snippet_id": candidate["snippet_id"],
        "input_index": candidate["input_index"],
        "source_kind": candidate.get("source_kind", "snippet"),
        "repo": candidate.get("repo"),
        "path": candidate.get("path"),
        "entry": entry,
        "entry_line": line,
        "source": source,
        "inputs": candidate["inputs"],
        "input_hash": candidate.get("input_hash") or input_hash(source, entry, candidate["inputs"]),
        "status": status,
        "truncation_reason": reason if status == "truncated" else None,
        "return_value": result.get("return_value") if status == "complete" else None,
        "exception": result.get("exception") if status == "error" else None,
        "events": events,
        "num_events": len(events),
        "stdout": result.get("stdout") or "",
        "cwm_text": text,
        # The CWM text carries every event, line, local and value, so its hash identifies the trace.
        "trace_sha256": hashlib.sha256(text.encode("utf-8")).hexdigest(),
        "limits": dict(settings),
    }
    if ORIGIN in candidate:
        rec[ORIGIN] = candidate[ORIGIN]
    return rec


def record_from_capture(captured: dict, settings) -> dict | Rejection:
    """Stage function for repo-test calls: the candidate carries its tracer result as `_result`."""
    candidate = {k: v for k, v in captured.items() if k != "_result"}
    limits = settings.tracer_settings() | {"memory_mb": settings.memory_mb}
    return trace_record(candidate, captured["_result"], limits)
