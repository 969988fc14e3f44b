"""Agent-log formats -> canonical `trajectory` records: a registry, format detection, file reading.

Each format is one module with `NAME`, `sniff(obj) -> bool` and `to_trajectory(obj, where) -> dict`.
`read_records` turns a file into in-flight raw records (one per `.traj`/JSON file, one per JSONL
line), never raising: unparseable input becomes a record that `adapt` dead-letters with file, line
and field. `adapt` is the pure per-record step the import pipeline runs in its `adapt` stage.

Formats: swe-agent (0.x and 1.x `.traj`), mini-swe-agent (message list and
`mini-swe-agent-1`/`-1.1` objects), openhands (event lists and evaluation-output rows), openai-chat.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tracemill.errors import RecordError
from tracemill.records import ORIGIN, origin
from tracemill.sources.agent_logs import _common, mini_swe_agent, openai_chat, openhands, swe_agent

# Order matters for detection: the most specific shapes first, the generic chat rows last.
FORMATS = {m.NAME: m for m in (swe_agent, mini_swe_agent, openhands, openai_chat)}
RAW_KIND = "trajectory"  # the record kind the manifest counts, before and after adapting


def detect_format(obj: Any, where: _common.Where | None = None) -> str:
    """The registered format whose `sniff` accepts `obj`; RecordError naming the file otherwise."""
    for name, module in FORMATS.items():
        if module.sniff(obj):
            return name
    where = where or _common.Where(None, None)
    shape = type(obj).__name__ if not isinstance(obj, dict) else "object with keys " + ", ".join(sorted(obj)[:8])
    hint = "; it looks like a predictions/report file: pass it with --reports" if _looks_like_report(obj) else ""
    raise where.error("$", f"unknown agent-log format ({shape}); known: {', '.join(FORMATS)}{hint}",
                      reason="unknown_format")


def _looks_like_report(obj: Any) -> bool:
    if not isinstance(obj, dict) or not obj:
        return False
    keys = set(obj)
    if keys & {"model_patch", "fix_patch", "resolved_ids", "patch_successfully_applied"}:
        return True
    return all(isinstance(v, dict) and ({"model_patch", "resolved", "tests_status"} & set(v)) for v in obj.values())


def _raw(source: str, line: int | None, fmt: str, obj: Any = None, error: dict | None = None) -> dict:
    rec = {ORIGIN: {"kind": RAW_KIND, "source": source, "line": line}, "format": fmt}
    if error is not None:
        rec["parse_error"] = error
    else:
        rec["raw"] = obj
    return rec


def read_records(path: str | Path, fmt: str = "auto") -> Iterator[dict]:
    """Raw records of one input file. JSONL yields one per non-empty line (line numbers 1-based)."""
    path = Path(path)
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        yield _raw(source, None, fmt, error={"field": "$", "message": f"cannot read: {exc}", "reason": "unreadable_file"})
        return
    if path.suffix == ".jsonl" or (not text.lstrip().startswith(("{", "[")) and "\n{" in text):
        for n, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                yield _raw(source, n, fmt, json.loads(line))
            except json.JSONDecodeError as exc:
                yield _raw(source, n, fmt, error={"field": f"column {exc.colno}", "message": exc.msg,
                                                   "reason": "invalid_json"})
        return
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        # A JSONL file without the .jsonl suffix: one object per line parses line by line.
        if exc.msg == "Extra data":
            yield from read_records_lines(source, text, fmt)
            return
        yield _raw(source, exc.lineno, fmt, error={"field": f"column {exc.colno}", "message": exc.msg,
                                                    "reason": "invalid_json"})
        return
    yield _raw(source, None, fmt, obj)


def count_records(path: str | Path) -> int:
    """How many raw records `read_records` yields for a file, without adapting them."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return 1
    lines = sum(1 for line in text.splitlines() if line.strip())
    if path.suffix == ".jsonl" or (not text.lstrip().startswith(("{", "[")) and "\n{" in text):
        return lines
    try:
        json.loads(text)
    except json.JSONDecodeError as exc:
        return lines if exc.msg == "Extra data" else 1
    return 1


def read_records_lines(source: str, text: str, fmt: str) -> Iterator[dict]:
    for n, line in enumerate(text.splitlines(), 1):
        if line.strip():
            try:
                yield _raw(source, n, fmt, json.loads(line))
            except json.JSONDecodeError as exc:
                yield _raw(source, n, fmt, error={"field": f"column {exc.colno}", "message": exc.msg,
                                                   "reason": "invalid_json"})


def adapt(rec: dict) -> dict:
    """Raw record -> canonical trajectory (keeps `_origin`); RecordError for broken or unknown input."""
    o = origin(rec)
    where = _common.Where(o.get("source"), o.get("line"))
    if "parse_error" in rec:
        err = rec["parse_error"]
        raise where.error(err["field"], err["message"], reason=err.get("reason", "invalid_json"))
    obj = rec["raw"]
    fmt = rec.get("format") or "auto"
    if fmt == "auto":
        fmt = detect_format(obj, where)
    module = FORMATS.get(fmt)
    if module is None:
        raise RecordError(f"unknown --format {fmt!r}; known: auto, {', '.join(FORMATS)}", reason="unknown_format")
    traj = module.to_trajectory(obj, where)
    traj[ORIGIN] = {**o, "kind": "trajectory"}
    return traj


def read_trajectories(path: str | Path, fmt: str = "auto") -> Iterator[dict]:
    """Convenience for tests and notebooks: adapt every record of a file, raising on the first error."""
    for rec in read_records(path, fmt):
        yield adapt(rec)
