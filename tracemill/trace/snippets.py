"""Snippet candidates: a JSONL file of `{"id", "source", "entry", "inputs": [{"args", "kwargs"}]}`
becomes one candidate per (snippet, input), plus the cheap checks that run before any sandbox.

First step of the traces flow for `--snippets`. A line that is not a usable snippet is a
RecordError (dead-lettered with its line number); a single bad input, an unparsable source or a
missing entry is a filter decision with a reason code, so it is counted per (snippet, input).
"""

from __future__ import annotations

import ast
import json
from collections.abc import Iterator
from dataclasses import dataclass

from tracemill.errors import RecordError
from tracemill.readers import iter_lines
from tracemill.records import ORIGIN, Rejection
from tracemill.trace.record import input_hash

KIND = "trace_candidate"


@dataclass(frozen=True)
class CandidateLimits:
    max_source_chars: int = 20_000
    max_input_chars: int = 10_000


def numbered_lines(path: str) -> Iterator[tuple[str, int, str]]:
    """(path as given, 1-based line number, text) of every non-blank line; `@sample/...` and
    gzip allowed. The path is kept as given so that rejections and manifests do not depend on
    where the package is installed."""
    for n, text in iter_lines(path):
        yield path, n, text


def parse_snippet(path: str, line_no: int, text: str) -> list[dict]:
    """The candidates of one snippet line; RecordError if the line is not a snippet at all."""
    try:
        snippet = json.loads(text)
    except json.JSONDecodeError as exc:
        raise RecordError(f"not JSON: {exc}", reason="invalid_json") from exc
    if not isinstance(snippet, dict):
        raise RecordError("snippet is not a JSON object", reason="invalid_snippet")
    for field, typ in (("id", str), ("source", str), ("entry", str), ("inputs", list)):
        if not isinstance(snippet.get(field), typ):
            raise RecordError(f"`{field}` missing or not a {typ.__name__}", path=f"$.{field}",
                              reason="invalid_snippet")
    if not snippet["inputs"]:
        raise RecordError("snippet has no inputs", path="$.inputs", reason="no_inputs")
    out = []
    for i, inp in enumerate(snippet["inputs"]):
        out.append({
            "id": f"{snippet['id']}#{i}",
            "snippet_id": snippet["id"],
            "input_index": i,
            "source_kind": "snippet",
            "source": snippet["source"],
            "entry": snippet["entry"],
            "inputs": inp,
            ORIGIN: {"kind": KIND, "source": path, "line": line_no},
        })
    return out


def _top_level_names(tree: ast.Module) -> set[str]:
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
    return names


def check_candidate(candidate: dict, limits: CandidateLimits = CandidateLimits()) -> dict | Rejection:
    """Cheap static checks; keeps the candidate with its `input_hash` (the exact-dedup key)."""
    source, inputs = candidate["source"], candidate["inputs"]
    if len(source) > limits.max_source_chars:
        return Rejection("source_too_long", signal=len(source), limit=limits.max_source_chars)
    if not (isinstance(inputs, dict) and isinstance(inputs.get("args", []), list)
            and isinstance(inputs.get("kwargs", {}), dict) and set(inputs) <= {"args", "kwargs"}):
        return Rejection("invalid_input", detail="an input is {\"args\": [...], \"kwargs\": {...}}")
    size = len(json.dumps(inputs))
    if size > limits.max_input_chars:
        return Rejection("input_too_long", signal=size, limit=limits.max_input_chars)
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError) as exc:  # ValueError: source with NUL bytes
        return Rejection("syntax_error", detail=str(exc)[:500])
    if candidate["entry"] not in _top_level_names(tree):
        return Rejection("entry_not_found", detail=f"no top-level `{candidate['entry']}`")
    normalized = {"args": inputs.get("args", []), "kwargs": inputs.get("kwargs", {})}
    return {**candidate, "inputs": normalized,
            "input_hash": input_hash(source, candidate["entry"], normalized)}
