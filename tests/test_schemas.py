"""Every schema ships a valid and an invalid example; the loader, validators and Arrow types agree."""

import json
from importlib import resources

import pyarrow as pa
import pytest

import schemas
from schemas import arrow

EXAMPLES = resources.files("schemas").joinpath("examples")


def _example(name: str, kind: str) -> dict:
    return json.loads(EXAMPLES.joinpath(f"{name}.{kind}.json").read_text())


@pytest.mark.parametrize("name", schemas.available())
def test_valid_example_passes(name):
    assert schemas.errors(name, _example(name, "valid")) == []
    assert schemas.is_valid(name, _example(name, "valid"))


@pytest.mark.parametrize("name", schemas.available())
def test_invalid_example_fails_with_a_path(name):
    errs = schemas.errors(name, _example(name, "invalid"))
    assert errs, f"{name}.invalid.json unexpectedly valid"
    assert all(path.startswith("$") for path, _ in errs)


def test_every_schema_has_both_examples():
    names = set(schemas.available())
    files = {p.name for p in EXAMPLES.iterdir()}
    for name in names:
        assert {f"{name}.valid.json", f"{name}.invalid.json"} <= files


def test_names_constant_lists_every_schema():
    assert set(schemas.NAMES) <= set(schemas.available())


def test_fast_and_slow_validators_agree_on_examples():
    for name in schemas.available():
        for kind in ("valid", "invalid"):
            rec = _example(name, kind)
            assert schemas.is_valid(name, rec) == (not list(schemas._slow(name).iter_errors(rec)))


@pytest.mark.parametrize("name", ["task", "trajectory", "test_run", "sft_example", "rl_example", "rejection"])
def test_arrow_table_roundtrips_valid_example(name):
    rec = _example(name, "valid")
    table = arrow.to_table(name, [rec])
    assert table.schema == arrow.schema_for(name)
    assert table.num_rows == 1


def test_free_form_objects_become_json_strings():
    assert arrow.schema_for("task").field("provenance").type == pa.string()
    row = arrow.to_rows("task", [_example("task", "valid")])[0]
    assert json.loads(row["provenance"]) == {"origin": "example"}


def test_messages_are_nested_structs_for_trainers():
    t = arrow.schema_for("sft_example").field("messages").type
    assert pa.types.is_list(t) and pa.types.is_struct(t.value_type)
    assert t.value_type.get_field_index("tool_calls") >= 0
