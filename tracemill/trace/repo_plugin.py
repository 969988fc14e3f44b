"""pytest plugin (runs inside the sandbox) tracing the calls a test suite makes into its project.

Loaded as `-p _tracemill_rt.repo_plugin` from a private copy of the tracer (see `repo.py`), so no
name of ours can shadow a module of the project under test. During each test's call phase a
global trace function watches for frames of project code (files under the root that are not
tests or conftest) entered from outside the project: each such call starts a trace, which records
the nested project calls too and ends when the entry returns or raises. At most
`per_function` traces per function and `max_traces` per run; over its step or time budget a trace
stops recording and is labelled `truncated`, while the test runs on. One JSON line per finished
trace is appended to $TRACEMILL_TRACE_OUT.
"""

from __future__ import annotations

import json
import linecache
import os
import sys

import pytest

from . import reprs
from .tracer import DEFAULT_SETTINGS, Recorder, _exception_record

_CO_VARARGS, _CO_VARKEYWORDS = 0x04, 0x08
_CO_RESUMABLE = 0x20 | 0x80 | 0x200  # generator, coroutine, async generator: entered many times


def _is_test_file(rel: str) -> bool:
    parts = rel.split("/")
    name = parts[-1]
    return (name.startswith("test_") or name.endswith("_test.py") or name == "conftest.py"
            or any(p in ("tests", "test", "testing") for p in parts[:-1]))


class Capture:
    def __init__(self, root: str, settings: dict, out_path: str):
        self.root = root.rstrip("/") + "/"
        self.settings = settings
        self.out = open(out_path, "a", encoding="utf-8")  # noqa: SIM115 - closed at session end
        self.per_function = int(settings.get("per_function", 3))
        self.max_traces = int(settings.get("max_traces", 500))
        self.counts: dict[tuple, int] = {}
        self.total = 0
        self.scope: dict = {}
        self.test = ""
        self.rec: Recorder | None = None
        self.entry = None
        self.exc: BaseException | None = None
        self.meta: dict = {}

    def in_scope(self, code) -> bool:
        hit = self.scope.get(code)
        if hit is None:
            fn = code.co_filename
            hit = (fn.startswith(self.root) and fn.endswith(".py") and "/site-packages/" not in fn
                   and not _is_test_file(fn[len(self.root):]))
            self.scope[code] = hit
        return hit

    @staticmethod
    def line(filename: str, lineno: int) -> str:
        return linecache.getline(filename, lineno).rstrip("\r\n")

    def _inputs(self, frame) -> dict:
        code, f_locals = frame.f_code, frame.f_locals
        n, k, names = code.co_argcount, code.co_kwonlyargcount, code.co_varnames
        r = self._repr
        args = [r(f_locals[p]) for p in names[:n] if p in f_locals]
        kwargs = {p: r(f_locals[p]) for p in names[n:n + k] if p in f_locals}
        i = n + k
        if code.co_flags & _CO_VARARGS:
            args += [r(v) for v in f_locals.get(names[i], ())]
            i += 1
        if code.co_flags & _CO_VARKEYWORDS:
            kwargs.update({str(key): r(v) for key, v in f_locals.get(names[i], {}).items()})
        return {"args": args, "kwargs": kwargs}

    def _repr(self, value) -> str:
        return reprs.bounded_repr(value, int(self.settings["max_repr"]), int(self.settings["max_items"]))

    # -- sys.settrace ---------------------------------------------------------------------------
    def global_trace(self, frame, event, arg):
        rec = self.rec
        if rec is not None:
            if rec.global_trace(frame, event, arg) is None:
                return None
            return self._nested(rec) if not self._over(rec) else None
        code = frame.f_code
        if event != "call" or not self.in_scope(code) or code.co_flags & _CO_RESUMABLE:
            return None
        back = frame.f_back
        if back is not None and self.in_scope(back.f_code):
            return None  # called by project code we chose not to trace (over its cap)
        key = (code.co_filename, code.co_firstlineno, code.co_qualname)
        n = self.counts.get(key, 0)
        if n >= self.per_function or self.total >= self.max_traces:
            return None
        self.counts[key] = n + 1
        self.total += 1
        self.rec = Recorder(self.in_scope, self.line, self.settings, abort=False)
        self.entry, self.exc, self.meta = frame, None, {
            "path": code.co_filename[len(self.root):], "qualname": code.co_qualname, "index": n,
            "test": self.test, "inputs": self._inputs(frame), "entry_line": code.co_firstlineno}
        self.rec.global_trace(frame, event, arg)
        return self.entry_trace

    def _over(self, rec: Recorder) -> bool:
        """Write a trace the moment it goes over a limit; the program then runs on untraced."""
        if rec.truncated and self.rec is rec:
            self._finish(None)
        return rec.truncated is not None

    def _nested(self, rec: Recorder):
        def trace(frame, event, arg):
            if self.rec is not rec:  # the trace this frame belonged to has been written
                return None
            rec.local_trace(frame, event, arg)
            return None if self._over(rec) else trace

        return trace

    def entry_trace(self, frame, event, arg):
        rec = self.rec
        if rec is None or frame is not self.entry:
            return None
        rec.local_trace(frame, event, arg)
        if self._over(rec):
            return None
        if event == "exception":
            self.exc = arg[1]
        elif event == "line":
            self.exc = None
        elif event == "return":
            self._finish(arg)
        return self.entry_trace

    def _finish(self, value) -> None:
        rec, meta = self.rec, self.meta
        self.rec = self.entry = None
        result = {**meta, "status": "complete", "truncation_reason": None, "return_value": None,
                  "exception": None, "events": rec.events, "stdout": "", "load_error": None}
        if rec.truncated:
            result.update(status="truncated", truncation_reason=rec.truncated)
        elif self.exc is not None:
            result.update(status="error", exception=_exception_record(self.exc, rec.max_repr))
        else:
            result["return_value"] = self._repr(value)
        rec.release()
        self.out.write(json.dumps(result, ensure_ascii=False) + "\n")
        self.out.flush()

    def close(self) -> None:
        self.out.close()


_capture: Capture | None = None


def pytest_configure(config):
    global _capture
    out = os.environ.get("TRACEMILL_TRACE_OUT")
    if out:
        settings = {**DEFAULT_SETTINGS, **json.loads(os.environ.get("TRACEMILL_TRACE_SETTINGS", "{}"))}
        _capture = Capture(str(config.rootpath), settings, out)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    if _capture is None:
        yield
        return
    _capture.test = item.nodeid
    sys.settrace(_capture.global_trace)
    try:
        yield
    finally:
        sys.settrace(None)
        if _capture.rec is not None:  # the test ended inside a traced call (e.g. a generator): drop it
            _capture.rec = _capture.entry = None


def pytest_unconfigure(config):
    if _capture is not None:
        _capture.close()
