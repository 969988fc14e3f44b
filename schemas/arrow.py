"""Parquet column types derived from the JSON Schemas, so a record's shape is written down once.

Mapping: object with properties -> struct; array -> list; string/integer/number/boolean -> the Arrow
primitive; free-form objects (`"x-arrow": "json"`) -> a JSON-encoded string column, because Parquet
has no schemaless type and inference would vary from shard to shard.
"""

from __future__ import annotations

import functools
import json
from typing import Any

import pyarrow as pa

from schemas import load

_PRIMITIVES = {"string": pa.string(), "integer": pa.int64(), "number": pa.float64(), "boolean": pa.bool_()}


def _types(node: dict) -> list[str]:
    if "const" in node:
        return ["string"] if isinstance(node["const"], str) else [type(node["const"]).__name__]
    if "enum" in node:
        kinds = {"string" if isinstance(v, str) else "null" if v is None else "other" for v in node["enum"]}
        return sorted(kinds)
    t = node.get("type", "object")
    return [t] if isinstance(t, str) else list(t)


def _is_json(node: dict) -> bool:
    return node.get("x-arrow") == "json" or (
        "object" in _types(node) and "properties" not in node
    )


def arrow_type(node: dict) -> pa.DataType:
    if _is_json(node):
        return pa.string()
    kinds = [k for k in _types(node) if k != "null"]
    if len(kinds) != 1:
        return pa.string()  # mixed types: stored as JSON text
    kind = kinds[0]
    if kind == "object":
        return pa.struct([pa.field(k, arrow_type(v)) for k, v in node["properties"].items()])
    if kind == "array":
        return pa.list_(arrow_type(node.get("items", {"type": "string"})))
    return _PRIMITIVES[kind]


@functools.cache
def schema_for(name: str) -> pa.Schema:
    return pa.schema([pa.field(k, arrow_type(v)) for k, v in load(name)["properties"].items()])


def _to_row(value: Any, node: dict) -> Any:
    if value is None:
        return None
    if _is_json(node):
        return json.dumps(value, sort_keys=True, ensure_ascii=False)
    kinds = [k for k in _types(node) if k != "null"]
    if len(kinds) != 1:
        return json.dumps(value, sort_keys=True, ensure_ascii=False)
    if kinds[0] == "object":
        return {k: _to_row(value.get(k), v) for k, v in node["properties"].items()}
    if kinds[0] == "array":
        item = node.get("items", {"type": "string"})
        return [_to_row(v, item) for v in value]
    return value


def to_rows(name: str, records: list[dict]) -> list[dict]:
    """Records shaped for `schema_for(name)`: JSON-typed fields encoded, missing fields null."""
    props = load(name)["properties"]
    return [{k: _to_row(r.get(k), v) for k, v in props.items()} for r in records]


def to_table(name: str, records: list[dict]) -> pa.Table:
    return pa.Table.from_pylist(to_rows(name, records), schema=schema_for(name))
