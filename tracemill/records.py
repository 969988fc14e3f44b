"""Record plumbing shared by every stage: origin tags, ids, rejections, canonical JSON.

Records travel as plain dicts. While in flight each carries `_origin` (record kind, input file,
line) so that any stage can say exactly which input a rejection accounts for; sinks strip it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

ORIGIN = "_origin"


def canonical_json(obj: Any) -> str:
    """Stable serialization: sorted keys, no whitespace variance, UTF-8 kept."""
    return json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def stable_hash(*parts: Any) -> str:
    return hashlib.sha256(canonical_json(parts).encode("utf-8")).hexdigest()


def unit_interval(seed: int, key: str) -> float:
    """A deterministic uniform draw in [0, 1) from (seed, key), independent of arrival order."""
    digest = hashlib.sha256(f"{seed}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def origin(record: dict) -> dict:
    return record.get(ORIGIN) or {}


def strip_origin(record: dict) -> dict:
    return {k: v for k, v in record.items() if k != ORIGIN}


def record_id(record: dict) -> str:
    o = origin(record)
    for key in ("id", "traj_id", "instance_id", "run_id", "snippet_id"):
        if isinstance(record.get(key), str):
            return record[key]
    return f"{o.get('source', '?')}:{o.get('line', '?')}"


@dataclass(frozen=True)
class Rejection:
    """A stage's decision not to keep a record; `signal` is the value it measured."""

    reason: str
    signal: float | None = None
    limit: float | None = None
    duplicate_of: str | None = None
    similarity: float | None = None
    detail: str | None = None
    disposition: str = "filtered"  # filtered | deduplicated


def rejection_record(record: dict, stage: str, rej: Rejection) -> dict:
    o = origin(record)
    return {
        "record_id": record_id(record),
        "record_kind": o.get("kind", "unknown"),
        "source": o.get("source"),
        "line": o.get("line"),
        "stage": stage,
        "disposition": rej.disposition,
        "reason": rej.reason,
        "signal": rej.signal,
        "limit": rej.limit,
        "duplicate_of": rej.duplicate_of,
        "similarity": rej.similarity,
        "error": None,
        "detail": rej.detail,
    }


def dead_letter_record(record: Any, stage: str, exc: BaseException, reason: str | None = None,
                       path: str | None = None) -> dict:
    rec = record if isinstance(record, dict) else {}
    o = origin(rec)
    return {
        "record_id": record_id(rec) if rec else f"{o.get('source', '?')}:{o.get('line', '?')}",
        "record_kind": o.get("kind", "unknown"),
        "source": o.get("source"),
        "line": o.get("line"),
        "stage": stage,
        "disposition": "dead_lettered",
        "reason": reason or getattr(exc, "reason", None) or "unexpected_error",
        "signal": None,
        "limit": None,
        "duplicate_of": None,
        "similarity": None,
        "error": {"type": type(exc).__name__, "message": str(exc)[:2000],
                  "path": path if path is not None else getattr(exc, "path", None)},
        "detail": None,
    }
