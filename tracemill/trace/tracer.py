"""The in-sandbox tracer: run an entry function under `sys.settrace` and record every step.

This module runs *inside* the bubblewrap sandbox with `python -I -S` (stdlib only, no site
packages), so it imports nothing from tracemill but its sibling `reprs`. The host sends a batch of
items as JSON on stdin; for each item the tracer writes a `{"started": key}` line and then one
result line to the original stdout, flushing after each, so that when the sandbox kills a runaway
item the host still has every finished result and knows which item was running.

What is traced: `call`, `line`, `return` and `exception` events of frames whose code belongs to
the traced source (the snippet's own file, or the project's files in repo mode); library and
stdlib frames are run but not recorded. Each trace has its own limits: a step budget (events), a
wall-clock budget (an interval timer), and the sandbox's memory limit surfacing as MemoryError.
A trace that exceeds a limit ends `truncated` with the reason; it is a label, not a hang.

A frame that exits by an exception emits CPython's `exception` event followed by a `return` event
with value None; the `return` is dropped, because the frame did not return None.
"""

from __future__ import annotations

import faulthandler
import gc
import io
import json
import os
import signal
import sys
import time

try:  # inside the sandbox this file is run from its directory, outside it is tracemill.trace.tracer
    from . import reprs
except ImportError:  # pragma: no cover - exercised in the sandbox
    # `python -I` does not put the script's directory on sys.path; this file's sibling is all we add.
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import reprs  # type: ignore[no-redef]

DEFAULT_SETTINGS = {
    "max_steps": 2000,  # recorded events per trace
    "time_s": 2.0,  # wall-clock per trace (module load + call)
    "max_repr": reprs.MAX_LEN,
    "max_items": reprs.MAX_ITEMS,
    "max_stdout": 4000,
}
WATCHDOG_GRACE_S = 1.0
WATCHDOG_MARKER = "Timeout ("  # how faulthandler's dump begins; the host reads it as time_limit


class TraceLimit(BaseException):
    """Raised into traced code when a per-trace limit is hit; BaseException so `except Exception`
    in the traced program does not swallow it."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class _BoundedStdout(io.TextIOBase):
    def __init__(self, cap: int):
        self.cap, self.parts, self.size = cap, [], 0

    def write(self, s: str) -> int:
        if self.size < self.cap:
            self.parts.append(s[: self.cap - self.size])
        self.size += len(s)
        return len(s)

    def getvalue(self) -> str:
        text = "".join(self.parts)
        return text + (f"<...{self.size - self.cap} more chars>" if self.size > self.cap else "")


class Recorder:
    """Collects events of in-scope frames; `in_scope(code)` decides which frames are recorded."""

    def __init__(self, in_scope, line_source, settings: dict, *, abort: bool = True):
        # abort=False (repo mode): over a limit, stop recording but let the program (a test) run on.
        self.abort = abort
        self.deadline = None if abort else time.perf_counter() + float(settings["time_s"])
        self.in_scope = in_scope
        self.line_source = line_source
        self.max_steps = int(settings["max_steps"])
        self.max_repr = int(settings["max_repr"])
        self.max_items = int(settings["max_items"])
        self.events: list[dict] = []
        self.truncated: str | None = None
        self._frames: dict[int, int] = {}
        self._alive: list = []  # keeps traced frames alive so their ids are never reused
        self._depth = 0
        self._last_kind: dict[int, str] = {}

    # -- values ---------------------------------------------------------------------------------
    def _locals(self, frame) -> dict[str, str]:
        out = {}
        for name, value in frame.f_locals.items():
            # `.0` (a comprehension's iterator) and similar are compiler-made, not program state.
            if name.isidentifier():
                out[name] = reprs.bounded_repr(value, self.max_repr, self.max_items)
        return out

    def _record(self, frame, kind: str, value: str | None = None) -> None:
        if self.truncated or len(self.events) >= self.max_steps:
            # Once over a limit, every further step re-raises: a program that swallows the first
            # TraceLimit with `except BaseException` is stopped again at its next line.
            self.truncated = self.truncated or "step_limit"
            if self.abort:
                raise TraceLimit(self.truncated)
            return
        if self.deadline is not None and len(self.events) % 64 == 0 and time.perf_counter() > self.deadline:
            self.truncated = "time_limit"
            return
        fid = self._frames.get(id(frame))
        if fid is None:
            fid = self._frames[id(frame)] = len(self._frames)
            self._alive.append(frame)
        code = frame.f_code
        event = {
            "kind": kind,
            "frame": fid,
            "depth": self._depth - 1,  # the entry function is depth 0
            "func": code.co_qualname,
            "line": frame.f_lineno,
            "source": self.line_source(code.co_filename, frame.f_lineno),
            "locals": self._locals(frame),
        }
        if value is not None:
            event["value"] = value
        self.events.append(event)
        self._last_kind[fid] = kind

    # -- sys.settrace protocol ------------------------------------------------------------------
    def global_trace(self, frame, event, arg):
        if event != "call" or not self.in_scope(frame.f_code):
            return None
        self._depth += 1
        self._record(frame, "call")
        return self.local_trace

    def local_trace(self, frame, event, arg):
        if event == "line":
            self._record(frame, "line")
        elif event == "return":
            fid = self._frames.get(id(frame))
            if self._last_kind.get(fid) != "exception":
                self._record(frame, "return", reprs.bounded_repr(arg, self.max_repr, self.max_items))
            else:
                self._last_kind[fid] = "unwound"
            self._depth -= 1
        elif event == "exception":
            exc = arg[1] if arg[1] is not None else arg[0]
            if isinstance(exc, TraceLimit):
                self.truncated = self.truncated or exc.reason
                return self.local_trace
            self._record(frame, "exception", reprs.exception_repr(exc, self.max_repr))
        return self.local_trace

    def release(self) -> None:
        self._alive.clear()
        self._frames.clear()


def _on_alarm(signum, frame):
    raise TraceLimit("time_limit")


def trace_call(fn, args: list, kwargs: dict, recorder: Recorder) -> dict:
    """Call `fn(*args, **kwargs)` under `recorder`; the outcome without events."""
    outcome: dict = {"return_value": None, "exception": None}
    start = time.perf_counter()
    sys.settrace(recorder.global_trace)
    try:
        try:
            result = fn(*args, **kwargs)
        finally:
            # Off before anything else runs: the repr of the result may call the program's own
            # __repr__, which is not part of the traced call.
            sys.settrace(None)
            outcome["call_s"] = time.perf_counter() - start  # for benchmarks; never in a record
    except TraceLimit as exc:
        recorder.truncated = recorder.truncated or exc.reason
    except MemoryError:
        recorder.truncated = recorder.truncated or "memory_limit"
    except RecursionError as exc:
        outcome["exception"] = _exception_record(exc, recorder.max_repr)
    except BaseException as exc:  # noqa: BLE001 - the traced program's own exception is data
        outcome["exception"] = _exception_record(exc, recorder.max_repr)
    else:
        outcome["return_value"] = reprs.bounded_repr(result, recorder.max_repr, recorder.max_items)
        outcome["_result"] = result
    return outcome


def _exception_record(exc: BaseException, max_repr: int) -> dict:
    try:
        message = str(exc)
    except Exception:  # noqa: BLE001
        message = "<str() raised>"
    return {"type": type(exc).__qualname__, "message": reprs._cut(message, max_repr),
            "repr": reprs.exception_repr(exc, max_repr)}


def run_snippet(item: dict, settings: dict, *, traced: bool = True) -> dict:
    """Load a snippet's source in a fresh namespace and trace one call of its entry function.

    With `traced=False` the same call runs without a tracer (the fidelity baseline and the
    benchmark's denominator).
    """
    key, source, entry = item["key"], item["source"], item["entry"]
    filename = item.get("filename") or f"<snippet {key}>"
    lines = source.splitlines()
    out: dict = {"key": key, "status": None, "truncation_reason": None, "return_value": None,
                 "exception": None, "events": [], "stdout": "", "load_error": None}
    capture = _BoundedStdout(int(settings["max_stdout"]))
    real_stdout = sys.stdout
    sys.stdout = capture
    signal.setitimer(signal.ITIMER_REAL, float(settings["time_s"]))
    # The timer cannot interrupt a loop inside one C call (`sum(range(10**12))`); faulthandler's
    # watchdog thread needs no GIL and ends the process shortly after, so the host labels this
    # item and re-runs the rest instead of waiting for the whole batch's deadline.
    faulthandler.dump_traceback_later(float(settings["time_s"]) + WATCHDOG_GRACE_S, exit=True)
    start = time.perf_counter()
    recorder = Recorder(lambda code: code.co_filename == filename,
                        lambda _f, n: lines[n - 1] if 0 < n <= len(lines) else "", settings)
    try:
        namespace: dict = {"__name__": "__snippet__"}
        try:
            exec(compile(source, filename, "exec"), namespace)  # noqa: S102 - sandboxed by design
            fn = namespace[entry]
        except TraceLimit as exc:
            out.update(status="truncated", truncation_reason=exc.reason, load_error="module load hit a limit")
            return out
        except BaseException as exc:  # noqa: BLE001
            out["load_error"] = f"{type(exc).__name__}: {reprs._cut(str(exc), 500)}"
            return out
        if not traced:
            outcome = _untraced_call(fn, item.get("args", []), item.get("kwargs", {}), recorder)
        else:
            outcome = trace_call(fn, item.get("args", []), item.get("kwargs", {}), recorder)
        outcome.pop("_result", None)
        out.update(outcome)
        out["events"] = recorder.events
        if recorder.truncated:
            out.update(status="truncated", truncation_reason=recorder.truncated, return_value=None)
        else:
            out["status"] = "error" if out["exception"] else "complete"
        return out
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        faulthandler.cancel_dump_traceback_later()
        sys.stdout = real_stdout
        out["stdout"] = capture.getvalue()
        out["duration_s"] = round(time.perf_counter() - start, 6)
        recorder.release()
        if out.get("truncation_reason") == "memory_limit":
            gc.collect()  # give the next item its memory back now (a full collect per item costs ms)


def _untraced_call(fn, args, kwargs, recorder: Recorder) -> dict:
    outcome: dict = {"return_value": None, "exception": None}
    start = time.perf_counter()
    try:
        result = fn(*args, **kwargs)
        outcome["call_s"] = time.perf_counter() - start
        outcome["return_value"] = reprs.bounded_repr(result, recorder.max_repr, recorder.max_items)
    except TraceLimit as exc:
        recorder.truncated = exc.reason
    except MemoryError:
        recorder.truncated = "memory_limit"
    except BaseException as exc:  # noqa: BLE001
        outcome["exception"] = _exception_record(exc, recorder.max_repr)
    return outcome


def main() -> int:
    """Batch protocol: JSON `{"settings", "items", "traced"}` on stdin, JSON lines on stdout."""
    request = json.load(sys.stdin)
    settings = {**DEFAULT_SETTINGS, **(request.get("settings") or {})}
    traced = bool(request.get("traced", True))
    # Results go to a private duplicate of stdout; the traced program's fd 1 goes nowhere, so
    # nothing it prints (even with os.write) can interleave with the protocol.
    results = os.fdopen(os.dup(1), "w", encoding="utf-8")
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    signal.signal(signal.SIGALRM, _on_alarm)
    sys.setrecursionlimit(int(settings.get("recursion_limit", 1000)))
    for item in request["items"]:
        results.write(json.dumps({"started": item["key"]}) + "\n")
        results.flush()
        try:
            result = run_snippet(item, settings, traced=traced)
        except MemoryError:
            result = {"key": item["key"], "status": "truncated", "truncation_reason": "memory_limit",
                      "return_value": None, "exception": None, "events": [], "stdout": "", "load_error": None}
        results.write(json.dumps(result, ensure_ascii=False, separators=(",", ":")) + "\n")
        results.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
