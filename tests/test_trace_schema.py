"""The execution_trace schema ships a valid and an invalid example, and Arrow types derive from it."""

from __future__ import annotations

import json
from pathlib import Path

import schemas
from schemas import arrow

EXAMPLES = Path(schemas.__file__).parent / "examples"


def test_valid_example_passes():
    assert schemas.errors("execution_trace", json.loads((EXAMPLES / "execution_trace.valid.json").read_text())) == []


def test_invalid_example_fails_where_expected():
    errs = schemas.errors("execution_trace", json.loads((EXAMPLES / "execution_trace.invalid.json").read_text()))
    assert ("$", "'cwm_text' is a required property") in errs


def test_parquet_columns_derive_from_the_schema():
    table = arrow.to_table("execution_trace", [json.loads((EXAMPLES / "execution_trace.valid.json").read_text())])
    assert table.num_rows == 1
    assert str(table.schema.field("inputs").type) == "string"  # free-form JSON column
    assert "execution_trace" in schemas.NAMES
