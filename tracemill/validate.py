"""Schema validation as a stage function: a record either passes unchanged or raises RecordError
naming the JSON path of the first violation."""

from __future__ import annotations

from collections.abc import Callable

import schemas
from tracemill.errors import RecordError
from tracemill.records import ORIGIN, strip_origin


def validator(schema_name: str) -> Callable[[dict], dict]:
    def check(record: dict) -> dict:
        body = strip_origin(record) if ORIGIN in record else record
        errs = schemas.errors(schema_name, body, limit=1)
        if errs:
            path, message = errs[0]
            raise RecordError(f"{schema_name} schema: {path}: {message}", path=path, reason="schema_invalid")
        return record

    return check
