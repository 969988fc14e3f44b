"""`tracemill validate`: schema guessed from folder, name or fields; JSONL and Parquet alike; first N errors
with their JSON paths; exit 1 when anything is invalid, 2 on unusable input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import schemas
from tests.fixed_run import fixed_run  # noqa: F401 - fixture
from tracemill.cli import main
from tracemill.commands.validate import BY_NAME, guess_by_fields
from tracemill.sinks import parquet_bytes

EXAMPLES = Path(schemas.__file__).parent / "examples"
FOLDER = {"task": "tasks", "trajectory": "trajectories", "test_run": "test_runs", "sft_example": "sft",
          "rl_example": "rl", "rejection": "rejections", "disposition": "dispositions"}


def example(name: str, kind: str) -> dict:
    return json.loads((EXAMPLES / f"{name}.{kind}.json").read_text())


def write_jsonl(path: Path, records: list) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


@pytest.mark.parametrize("name", sorted(FOLDER))
def test_valid_jsonl_and_parquet_pass_with_the_schema_guessed_from_the_folder(tmp_path, capsys, name):
    folder = tmp_path / FOLDER[name]
    jsonl = write_jsonl(folder / "part-00000-of-00001.jsonl", [example(name, "valid")] * 2)
    parquet = folder / "part-00000-of-00001.parquet"
    parquet.write_bytes(parquet_bytes(name, [example(name, "valid")]))
    assert main(["validate", str(jsonl), str(parquet)]) == 0
    err = capsys.readouterr().err
    assert f"schema {name}: ok" in err and "2 files, 3 records, 0 invalid" in err


@pytest.mark.parametrize("name", sorted(FOLDER))
def test_invalid_records_report_the_json_path(tmp_path, capsys, name):
    path = write_jsonl(tmp_path / FOLDER[name] / "part.jsonl", [example(name, "valid"), example(name, "invalid")])
    assert main(["validate", str(path)]) == 1
    out = capsys.readouterr().out.splitlines()
    json_path, message = schemas.errors(name, example(name, "invalid"), limit=1)[0]
    assert out[0] == f"{path}:line 2: {json_path}: {message}"


def test_invalid_parquet_row_is_found(tmp_path, capsys):
    bad = {**example("sft_example", "valid"), "num_tokens": -3}
    path = tmp_path / "sft" / "part.parquet"
    path.parent.mkdir()
    path.write_bytes(parquet_bytes("sft_example", [example("sft_example", "valid"), bad]))
    assert main(["validate", str(path)]) == 1
    assert capsys.readouterr().out.startswith(f"{path}:row 2: $.num_tokens: -3 is less than the minimum of 0")


def test_manifest_json_by_file_name(tmp_path, capsys):
    (tmp_path / "manifest.json").write_text(json.dumps(example("manifest", "valid")))
    assert main(["validate", str(tmp_path / "manifest.json")]) == 0
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "manifest.json").write_text(json.dumps(example("manifest", "invalid")))
    assert main(["validate", str(tmp_path / "bad" / "manifest.json")]) == 1
    assert "$.counts.total" in capsys.readouterr().out


@pytest.mark.parametrize("name", sorted(FOLDER))
def test_schema_guessed_from_fields(name):
    assert guess_by_fields(example(name, "valid")) == name


def test_guess_by_fields_in_an_unnamed_folder(tmp_path, capsys):
    path = write_jsonl(tmp_path / "misc" / "data.jsonl", [example("task", "valid")])
    assert main(["validate", str(path)]) == 0
    assert "schema task: ok" in capsys.readouterr().err


def test_max_errors_caps_the_report_not_the_count(tmp_path, capsys):
    bad = example("disposition", "invalid")
    path = write_jsonl(tmp_path / "dispositions" / "part.jsonl", [bad] * 5)
    assert main(["validate", str(path), "--max-errors", "2"]) == 1
    captured = capsys.readouterr()
    assert len(captured.out.splitlines()) == 2
    assert "5 invalid" in captured.err and "--max-errors" in captured.err


def test_malformed_line_is_an_error_with_its_line(tmp_path, capsys):
    path = tmp_path / "tasks" / "part.jsonl"
    path.parent.mkdir()
    path.write_text(json.dumps(example("task", "valid")) + "\n{not json\n")
    assert main(["validate", str(path)]) == 1
    assert capsys.readouterr().out.startswith(f"{path}:line 2: $: invalid JSON")


def test_explicit_schema_overrides_the_guess(tmp_path, capsys):
    path = write_jsonl(tmp_path / "tasks" / "part.jsonl", [example("disposition", "valid")])
    assert main(["validate", str(path), "--schema", "disposition"]) == 0
    assert main(["validate", str(path)]) == 1


def test_unusable_input_exits_2(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("hello")
    assert main(["validate", str(tmp_path / "notes.txt")]) == 2
    assert main(["validate", str(tmp_path / "absent.jsonl")]) == 2
    write_jsonl(tmp_path / "misc" / "x.jsonl", [{"hello": 1}])
    assert main(["validate", str(tmp_path / "misc" / "x.jsonl")]) == 2
    err = capsys.readouterr().err
    assert "unsupported file type" in err and "no such file" in err and "--schema" in err


def test_every_folder_name_maps_to_a_real_schema():
    assert set(BY_NAME.values()) <= set(schemas.available())


@pytest.mark.sandbox
def test_a_real_run_validates(fixed_run, capsys):  # noqa: F811
    files = sorted(str(p) for p in fixed_run.glob("*/part-*") if p.suffix in (".jsonl", ".parquet"))
    assert len(files) >= 14
    assert main(["validate", *files, str(fixed_run / "manifest.json")]) == 0
    assert " 0 invalid" in capsys.readouterr().err
