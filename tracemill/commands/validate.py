"""`tracemill validate FILE...`: check JSONL, JSON or Parquet files against the record schemas.

The schema comes from --schema, else from the folder or file name a tracemill run uses (`sft/` ->
sft_example, `manifest.json` -> manifest, ...), else from the fields of the first record. Parquet rows
are turned back into records first: JSON-typed columns are decoded and nulls that stand for absent
optional fields are dropped, so a Parquet shard validates exactly like its JSONL twin.
"""

from __future__ import annotations

import gzip
import json
import os
import sys
from collections.abc import Iterator
from typing import Any

import schemas
from tracemill.errors import ConfigError

# Output folder (or file stem) -> schema, as written by tracemill's sinks.
BY_NAME = {
    "tasks": "task", "task": "task",
    "trajectories": "trajectory", "trajectory": "trajectory", "rollouts": "trajectory",
    "test_runs": "test_run", "test_run": "test_run",
    "sft": "sft_example", "sft_example": "sft_example", "sft_examples": "sft_example",
    "rl": "rl_example", "rl_example": "rl_example", "rl_examples": "rl_example",
    "rejections": "rejection", "rejection": "rejection",
    "dispositions": "disposition", "disposition": "disposition",
    "manifest": "manifest",
}


def register(sub) -> None:
    p = sub.add_parser("validate", help="check JSONL/JSON/Parquet files against the record schemas",
                       description="Validate every record of each FILE against a JSON Schema in schemas/ and "
                                   "report the first errors as FILE:LINE: $.json.path: message. The schema is "
                                   "guessed from the folder name (tasks/, sft/, rejections/, ...), the file "
                                   "name, or the record's fields, unless --schema names it. Exit status 1 "
                                   "when any record is invalid.")
    p.add_argument("files", nargs="+", metavar="FILE", help="files to check (.jsonl, .jsonl.gz, .json, .parquet)")
    p.add_argument("--schema", choices=schemas.available(), metavar="NAME",
                   help=f"schema to check against (one of: {', '.join(schemas.available())})")
    p.add_argument("--max-errors", type=int, default=20, metavar="N",
                   help="stop reporting after N errors in total (default 20; counting continues)")
    p.set_defaults(func=run, accepts_beam_args=False)


# --------------------------------------------------------------------------------------------------
# Reading


def _types(node: dict) -> set[str]:
    if "const" in node:
        return {"string"} if isinstance(node["const"], str) else {"other"}
    if "enum" in node:
        return {"null" if v is None else "string" if isinstance(v, str) else "other" for v in node["enum"]}
    t = node.get("type", "object")
    return {t} if isinstance(t, str) else set(t)


def from_row(value: Any, node: dict) -> Any:
    """Invert `schemas.arrow.to_rows` for one value."""
    if value is None:
        return None
    kinds = _types(node) - {"null"}
    is_json = node.get("x-arrow") == "json" or ("object" in kinds and "properties" not in node) or len(kinds) > 1
    if is_json and isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value  # a plain string in a string-or-other column
    if kinds == {"object"} and isinstance(value, dict):
        props = node.get("properties", {})
        out = {}
        for k, v in value.items():
            sub = props.get(k, {})
            if v is None and "null" not in _types(sub):
                continue  # an absent optional field; Parquet structs cannot leave it out
            out[k] = from_row(v, sub)
        return out
    if kinds == {"array"} and isinstance(value, list):
        return [from_row(v, node.get("items", {})) for v in value]
    return value


def read_parquet(path: str) -> Iterator[tuple[int, Any]]:
    import pyarrow.parquet as pq

    yield from enumerate(pq.read_table(path).to_pylist(), start=1)


def read_jsonl(path: str) -> Iterator[tuple[int, Any]]:
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as fh:
        for i, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                yield i, json.loads(line)
            except json.JSONDecodeError as exc:
                yield i, _Malformed(f"invalid JSON: {exc.msg} at column {exc.colno}")


class _Malformed:
    def __init__(self, message: str):
        self.message = message


def records(path: str) -> tuple[str, Iterator[tuple[int, Any]]]:
    """(kind, iterator of (line or row number, record))."""
    name = path.lower()
    if name.endswith(".parquet"):
        return "row", read_parquet(path)
    if name.endswith((".jsonl", ".jsonl.gz", ".ndjson")):
        return "line", read_jsonl(path)
    if name.endswith(".json"):
        with open(path, encoding="utf-8") as fh:
            try:
                return "record", iter([(1, json.load(fh))])
            except json.JSONDecodeError as exc:
                return "record", iter([(exc.lineno, _Malformed(f"invalid JSON: {exc.msg}"))])
    raise ConfigError(f"{path}: unsupported file type (expected .jsonl, .jsonl.gz, .json or .parquet)")


# --------------------------------------------------------------------------------------------------
# Choosing the schema


def guess_by_name(path: str) -> str | None:
    base = os.path.basename(path).lower()
    for suffix in (".jsonl.gz", ".jsonl", ".ndjson", ".json", ".parquet"):
        if base.endswith(suffix):
            base = base[: -len(suffix)]
            break
    folder = os.path.basename(os.path.dirname(os.path.abspath(path))).lower()
    for candidate in (base, folder):
        if candidate in BY_NAME:
            return BY_NAME[candidate]
    return None


def guess_by_fields(record: Any) -> str | None:
    """The schema whose required fields the record covers best (all of them, most specific first)."""
    if not isinstance(record, dict):
        return None
    keys = set(record)
    scored = []
    for name in schemas.available():
        schema = schemas.load(name)
        required = set(schema.get("required", ()))
        known = set(schema.get("properties", {}))
        if required and required <= keys:
            scored.append((len(keys - known), -len(required), name))
    return min(scored)[2] if scored else None


# --------------------------------------------------------------------------------------------------


def check_file(path: str, schema: str | None, budget: list[int], out=None) -> tuple[int, int, str | None]:
    """(records, invalid, schema used) for one file, printing errors while `budget[0]` lasts."""
    out = out or sys.stdout
    if not os.path.isfile(path):
        raise ConfigError(f"no such file: {path}")
    unit, rows = records(path)
    chosen = schema or guess_by_name(path)
    node = None
    n = bad = 0
    for where, rec in rows:
        n += 1
        if isinstance(rec, _Malformed):
            problems = [("$", rec.message)]
        else:
            if chosen is None:
                chosen = guess_by_fields(rec if unit != "row" else _decode_loose(rec))
                if chosen is None:
                    raise ConfigError(f"{path}: cannot tell which schema applies; pass --schema NAME")
            if unit == "row":
                node = node or schemas.load(chosen)
                rec = from_row(rec, node)
            problems = schemas.errors(chosen, rec, limit=max(1, budget[0]))
        if problems:
            bad += 1
            for json_path, message in problems:
                if budget[0] <= 0:
                    break
                budget[0] -= 1
                print(f"{path}:{unit} {where}: {json_path}: {message}", file=out)
    return n, bad, chosen


def _decode_loose(row: dict) -> dict:
    return {k: v for k, v in row.items() if v is not None}


def run(args, beam_args: list[str]) -> int:
    if args.max_errors < 0:
        raise ConfigError("--max-errors must be >= 0")
    budget = [args.max_errors]
    total = invalid = 0
    for path in args.files:
        n, bad, chosen = check_file(path, args.schema, budget)
        total += n
        invalid += bad
        status = "ok" if not bad else f"{bad} invalid"
        print(f"{path}: {n} records, schema {chosen or '-'}: {status}", file=sys.stderr)
    if invalid and budget[0] <= 0:
        print(f"(error output stopped after {args.max_errors}; rerun with --max-errors N)", file=sys.stderr)
    print(f"{len(args.files)} files, {total} records, {invalid} invalid", file=sys.stderr)
    return 1 if invalid else 0
