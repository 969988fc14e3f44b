"""Host side of sandboxed tracing: batch items into one sandbox process, recover from its death.

One bubblewrap start costs tens of milliseconds, so many (snippet, input) items share a process;
each still has its own step and time budget inside the tracer. If the process dies mid-batch
(wall-clock limit for a hang in C code, memory kill, `os._exit`), every finished item keeps its
result, the item that was running is labelled `truncated` with the reason, and the rest of the
batch runs again in a fresh sandbox. A sandbox that cannot start is an InfraError, never a label.
"""

from __future__ import annotations

import json
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from tracemill.errors import InfraError
from tracemill.sandbox import ExecStatus, SandboxLimits, run_sandboxed
from tracemill.trace import tracer

TRACER_DIR = Path(tracer.__file__).resolve().parent

_DEATH_REASON = {
    ExecStatus.TIMEOUT: "time_limit",
    ExecStatus.MEMORY: "memory_limit",
    ExecStatus.FAILED: "process_exit",
    ExecStatus.OK: "process_exit",
}


@dataclass(frozen=True)
class TraceSettings:
    """Per-trace limits; every item gets all of them, whatever else shares its process."""

    max_steps: int = 2000
    time_s: float = 2.0
    memory_mb: int = 512
    max_repr: int = 200
    max_items: int = 20
    max_stdout: int = 4000
    startup_s: float = 10.0  # sandbox + interpreter start, added once per process

    def tracer_settings(self) -> dict:
        return {"max_steps": self.max_steps, "time_s": self.time_s, "max_repr": self.max_repr,
                "max_items": self.max_items, "max_stdout": self.max_stdout}


def _dead_item(key: str, reason: str, detail: str) -> dict:
    return {"key": key, "status": "truncated", "truncation_reason": reason, "return_value": None,
            "exception": None, "events": [], "stdout": "", "load_error": None, "detail": detail[:500]}


def _parse(stdout: str) -> tuple[dict[str, dict], str | None]:
    """Finished results by key, and the key that had started but not finished (if any)."""
    done: dict[str, dict] = {}
    running = None
    # "\n" only: results are JSON with ensure_ascii=False, whose strings may hold U+2028 or \x85,
    # which str.splitlines() would also split on.
    for line in stdout.split("\n"):
        if not line:
            continue
        try:
            msg = json.loads(line)
        except json.JSONDecodeError:
            break  # a line cut by the kill: everything after it is lost anyway
        if "started" in msg:
            running = msg["started"]
        else:
            done[msg["key"]] = msg
            running = None
    return done, running


def trace_items(items: list[dict], settings: TraceSettings = TraceSettings(), *, traced: bool = True,
                python: str | None = None, extra_settings: dict | None = None) -> dict[str, dict]:
    """Trace every item (`key`, `source`, `entry`, `args`, `kwargs`) in as few sandboxes as possible.

    Returns results by key. Raises InfraError only if the sandbox itself fails to start.
    """
    results: dict[str, dict] = {}
    pending = list(items)
    while pending:
        request = {"settings": settings.tracer_settings() | (extra_settings or {}), "traced": traced,
                   "items": pending}
        # Each item is bounded inside (its limit, then a kill); this outer clock only catches a
        # tracer that is itself stuck, so it allows every item its full budget.
        per_item = settings.time_s + tracer.KILL_GRACE_S + 0.5
        limits = SandboxLimits(timeout_s=settings.startup_s + per_item * len(pending),
                               memory_mb=settings.memory_mb, max_output_bytes=256_000_000)
        with tempfile.TemporaryDirectory(prefix="tracemill-trace-") as work:
            res = run_sandboxed(
                [python or sys.executable, "-I", "-S", str(TRACER_DIR / "tracer.py")],
                workdir=Path(work),
                limits=limits,
                ro_paths=(str(TRACER_DIR),),
                stdin=json.dumps(request).encode("utf-8"),
            )
        if res.status is ExecStatus.INFRA_ERROR:
            raise InfraError(f"trace sandbox failed to start: {res.detail}", reason="sandbox_infra_error")
        done, running = _parse(res.stdout)
        results.update(done)
        if res.status is ExecStatus.OK and not running and len(done) == len(pending):
            break
        if running is None and not done:
            # Died before the first item started: the tracer itself is broken, not the program.
            raise InfraError(f"tracer process failed ({res.status.value}): {res.stderr[-500:]}",
                             reason="tracer_failed")
        if running is not None:
            reason = _DEATH_REASON.get(res.status, "process_exit")
            results[running] = _dead_item(running, reason, res.detail or res.stderr[-500:])
        pending = [it for it in pending if it["key"] not in results]
    return results
