"""The in-sandbox tracer: run an entry function under `sys.settrace` and record every step.

This module runs *inside* the bubblewrap sandbox with `python -I -S` (stdlib only, no site
packages), so it imports nothing from tracemill but its sibling `reprs`. The host sends a batch of
items as JSON on stdin; for each item the tracer writes a `{"started": key}` line and then one
result line to the original stdout, flushing after each, so that if the whole sandbox dies the
host still has every finished result and knows which item was running.

Each item runs in a child forked from this pristine process, so items share the sandbox's start-up
cost but nothing else: not builtins or module state a program patched, not memory, not a hang.

What is traced: `call`, `line`, `return` and `exception` events of frames whose code belongs to
the traced source (the snippet's own file, or the project's files in repo mode); library and
stdlib frames are run but not recorded. Each trace has its own limits: a step budget (events), a
wall-clock budget (an interval timer in the child, a SIGKILL from the parent shortly after), and
the sandbox's address-space limit, per child, surfacing as MemoryError. A trace that exceeds a
limit ends `truncated` with the reason; it is a label, not a hang.

A frame that exits by an exception emits CPython's `exception` event followed by a `return` event
with value None; the `return` is dropped, because the frame did not return None.
"""

from __future__ import annotations

import contextlib
import gc
import io
import json
import os
import select
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
RECURSION_HEADROOM = 50  # frames the tracer may add above the program's deepest frame
KILL_GRACE_S = 1.0  # after its own limit, how long an item may take to report before it is killed


def _dumps(obj) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


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
    start, cpu = time.perf_counter(), time.process_time()
    trace_fn = recorder.global_trace  # one bound-method object, so `is` below can recognise it
    # The trace function and the repr run on top of the deepest traced frame; without headroom a
    # program that fits the recursion limit untraced would fail only because it is traced.
    base_limit = sys.getrecursionlimit()
    sys.setrecursionlimit(base_limit + RECURSION_HEADROOM)
    sys.settrace(trace_fn)
    try:
        try:
            result = fn(*args, **kwargs)
        finally:
            # Off before anything else runs: the repr of the result may call the program's own
            # __repr__, which is not part of the traced call.
            hijacked = sys.gettrace() is not trace_fn
            sys.settrace(None)
            sys.setrecursionlimit(base_limit)
            # For benchmarks; never in a record. CPU time too: on a shared machine it is the honest cost.
            outcome["call_s"], outcome["call_cpu_s"] = time.perf_counter() - start, time.process_time() - cpu
            if hijacked and not recorder.truncated:
                # The program replaced or removed the trace function (its own debugger, coverage):
                # whatever it did afterwards is missing from the events.
                recorder.truncated = "tracer_disabled"
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
    # The timer stops Python-level loops gracefully (the item still reports); a loop inside one C
    # call (`sum(range(10**12))`) ignores it and is killed by the parent (see `_run_isolated`).
    signal.setitimer(signal.ITIMER_REAL, float(settings["time_s"]))
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
        if settings.get("warmup"):
            # Benchmarks only: one untimed, untraced call on a copy of the inputs first, so that
            # both measured modes start from warm caches and already-faulted pages of the child.
            with contextlib.suppress(Exception):  # the measured call reports it
                fn(*json.loads(json.dumps(item.get("args", []))), **json.loads(json.dumps(item.get("kwargs", {}))))
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
        sys.stdout = real_stdout
        out["stdout"] = capture.getvalue()
        out["duration_s"] = round(time.perf_counter() - start, 6)
        recorder.release()


def _untraced_call(fn, args, kwargs, recorder: Recorder) -> dict:
    outcome: dict = {"return_value": None, "exception": None}
    start, cpu = time.perf_counter(), time.process_time()
    try:
        result = fn(*args, **kwargs)
        outcome["call_s"], outcome["call_cpu_s"] = time.perf_counter() - start, time.process_time() - cpu
        outcome["return_value"] = reprs.bounded_repr(result, recorder.max_repr, recorder.max_items)
    except TraceLimit as exc:
        recorder.truncated = exc.reason
    except MemoryError:
        recorder.truncated = "memory_limit"
    except BaseException as exc:  # noqa: BLE001
        outcome["exception"] = _exception_record(exc, recorder.max_repr)
    return outcome


def _dead(key: str, reason: str, detail: str = "") -> dict:
    return {"key": key, "status": "truncated", "truncation_reason": reason, "return_value": None,
            "exception": None, "events": [], "stdout": "", "load_error": None, "detail": detail}


def _child(item: dict, settings: dict, traced: bool, out_fd: int) -> None:
    """In the forked child: trace the item, write its JSON result to `out_fd`, exit."""
    try:
        signal.signal(signal.SIGALRM, _on_alarm)
        try:
            result = run_snippet(item, settings, traced=traced)
        except MemoryError:
            result = _dead(item["key"], "memory_limit")
        data = _dumps(result).encode("utf-8")
    except MemoryError:
        data = _dumps(_dead(item["key"], "memory_limit")).encode("utf-8")
    with os.fdopen(out_fd, "wb") as fh:
        fh.write(data)
    os._exit(0)


def _run_isolated(item: dict, settings: dict, traced: bool) -> bytes:
    """Run one item in a forked child with its own deadline and its own address-space limit.

    Nothing an item does (patching builtins or stdlib modules, leaking memory, hanging inside C,
    `os._exit`) can reach the next item: each starts from the same pristine parent.
    """
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child never returns
        os.close(read_fd)
        _child(item, settings, traced, write_fd)
    os.close(write_fd)
    deadline = time.monotonic() + float(settings["time_s"]) + KILL_GRACE_S
    chunks, killed = [], False
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            os.kill(pid, signal.SIGKILL)
            killed = True
            break
        ready, _, _ = select.select([read_fd], [], [], remaining)
        if ready:
            chunk = os.read(read_fd, 1 << 20)
            if not chunk:
                break
            chunks.append(chunk)
    os.close(read_fd)
    _, status = os.waitpid(pid, 0)
    if killed:
        dead = _dead(item["key"], "time_limit", f"killed {KILL_GRACE_S}s after its {settings['time_s']}s limit")
    elif os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0 and chunks:
        # The child's own JSON line, passed through unparsed: decoding and re-encoding megabytes
        # of events here would double the batch's CPU time.
        return b"".join(chunks)
    elif os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL:
        dead = _dead(item["key"], "memory_limit", "killed by SIGKILL")
    else:
        code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else -os.WTERMSIG(status)
        dead = _dead(item["key"], "process_exit", f"the program ended the process (status {code})")
    return _dumps(dead).encode("utf-8")


def main() -> int:
    """Batch protocol: JSON `{"settings", "items", "traced"}` on stdin, JSON lines on stdout."""
    request = json.load(sys.stdin)
    settings = {**DEFAULT_SETTINGS, **(request.get("settings") or {})}
    traced = bool(request.get("traced", True))
    # Results go to a private duplicate of stdout; the traced program's fd 1 goes nowhere, so
    # nothing it prints (even with os.write) can interleave with the protocol.
    results = os.fdopen(os.dup(1), "wb")
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    sys.setrecursionlimit(int(settings.get("recursion_limit", 1000)))
    # Children's collections then skip the parent's objects instead of touching (and so copying)
    # every page of the inherited heap.
    gc.freeze()
    for item in request["items"]:
        results.write(_dumps({"started": item["key"]}).encode("utf-8") + b"\n")
        results.flush()
        results.write(_run_isolated(item, settings, traced) + b"\n")
        results.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
