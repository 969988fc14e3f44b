"""Record contracts: the JSON Schema files beside this module, loaded and compiled once.

Every stage boundary validates through `validate`/`errors`; DuckDB views and Parquet column types
derive from the same files (see `schemas.arrow`).
"""

from __future__ import annotations

import copy
import functools
import json
from collections.abc import Iterable
from importlib import resources
from typing import Any

import jsonschema
import jsonschema_rs

NAMES = ("task", "trajectory", "test_run", "sft_example", "rl_example", "rejection", "disposition", "manifest",
         "execution_trace")


def _read(filename: str) -> dict:
    return json.loads(resources.files(__package__).joinpath(filename).read_text(encoding="utf-8"))


def available() -> list[str]:
    """Names of every record schema shipped (excluding shared definitions)."""
    return sorted(
        p.name.removesuffix(".schema.json")
        for p in resources.files(__package__).iterdir()
        if p.name.endswith(".schema.json") and p.name != "common.schema.json"
    )


def _inline_refs(node: Any, defs: dict[str, dict], local: dict[str, dict]) -> Any:
    # Our schemas only reference common.schema.json#/$defs/* and their own #/$defs/*; inlining
    # them gives self-contained schemas for the Rust validator and the Arrow type mapping.
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str):
            if ref.startswith("common.schema.json#/$defs/"):
                target = defs[ref.rsplit("/", 1)[1]]
                return _inline_refs(copy.deepcopy(target), defs, defs)
            if ref.startswith("#/$defs/"):
                target = local[ref.rsplit("/", 1)[1]]
                return _inline_refs(copy.deepcopy(target), defs, local)
        return {k: _inline_refs(v, defs, local) for k, v in node.items() if k != "$defs"}
    if isinstance(node, list):
        return [_inline_refs(v, defs, local) for v in node]
    return node


@functools.cache
def load(name: str) -> dict:
    """The schema `name`, with every $ref inlined."""
    common = _read("common.schema.json")["$defs"]
    raw = _read(f"{name}.schema.json")
    resolved = _inline_refs(raw, common, raw.get("$defs", {}))
    resolved["$schema"] = raw["$schema"]
    return resolved


@functools.cache
def _slow(name: str) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(load(name))


@functools.cache
def _fast(name: str):
    return jsonschema_rs.validator_for(load(name))


def is_valid(name: str, record: Any) -> bool:
    """Fast check with the compiled (Rust) validator."""
    return _fast(name).is_valid(record)


def errors(name: str, record: Any, limit: int = 5) -> list[tuple[str, str]]:
    """(json path, message) for up to `limit` violations; empty when valid.

    The compiled validator answers the common case; jsonschema explains the failures, because its
    messages and paths are the ones users know.
    """
    if is_valid(name, record):
        return []
    out = []
    for err in sorted(_slow(name).iter_errors(record), key=lambda e: list(map(str, e.absolute_path))):
        out.append((err.json_path, err.message[:500]))
        if len(out) >= limit:
            break
    return out or [("$", "invalid")]


def check_many(name: str, records: Iterable[Any]) -> list[tuple[int, str, str]]:
    """(index, path, message) of the first error of each invalid record."""
    found = []
    for i, rec in enumerate(records):
        errs = errors(name, rec, limit=1)
        if errs:
            found.append((i, *errs[0]))
    return found
