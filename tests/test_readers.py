import gzip

import pytest

from tracemill.errors import RecordError
from tracemill.readers import count_records, iter_lines, parse_line, resolve_input
from tracemill.records import ORIGIN


def test_line_numbers_skip_blank_lines_and_read_gzip(tmp_path):
    path = tmp_path / "x.jsonl.gz"
    with gzip.open(path, "wt") as fh:
        fh.write('{"a": 1}\n\n{"a": 2}\n')
    assert list(iter_lines(str(path))) == [(1, '{"a": 1}'), (3, '{"a": 2}')]
    assert count_records(str(path)) == 2


def test_parse_line_tags_origin():
    rec = parse_line({"kind": "task", "source": "t.jsonl", "line": 4, "text": '{"instance_id": "x"}'})
    assert rec[ORIGIN] == {"kind": "task", "source": "t.jsonl", "line": 4}


@pytest.mark.parametrize("text,needle", [('{"a": ', "invalid JSON"), ("[1, 2]", "expected a JSON object")])
def test_malformed_lines_name_file_and_line(text, needle):
    with pytest.raises(RecordError, match=rf"t.jsonl:7: {needle}") as exc:
        parse_line({"kind": "task", "source": "t.jsonl", "line": 7, "text": text})
    assert exc.value.reason == "malformed_json"


def test_sample_prefix_resolves_to_shipped_files():
    assert resolve_input("@sample/tasks.jsonl").endswith("tracemill/sample/tasks.jsonl")
    assert resolve_input("gs://bucket/x.jsonl") == "gs://bucket/x.jsonl"


def test_read_json_records_accepts_object_array_and_lines(tmp_path):
    from tracemill.readers import read_json_records

    (tmp_path / "o.json").write_text('{"a": 1}')
    (tmp_path / "a.json").write_text('[{"a": 1}, {"a": 2}]')
    (tmp_path / "l.jsonl").write_text('{"a": 1}\n\n{"a": 2}\n')
    assert read_json_records(str(tmp_path / "o.json")) == [{"a": 1}]
    assert read_json_records(str(tmp_path / "a.json")) == [{"a": 1}, {"a": 2}]
    assert read_json_records(str(tmp_path / "l.jsonl")) == [{"a": 1}, {"a": 2}]


def test_read_json_records_names_file_and_line(tmp_path):
    from tracemill.errors import ConfigError
    from tracemill.readers import read_json_records

    (tmp_path / "bad.jsonl").write_text('{"a": 1}\n{"a": \n')
    with pytest.raises(ConfigError, match=r"bad.jsonl:2: neither a JSON document nor JSON lines"):
        read_json_records(str(tmp_path / "bad.jsonl"))
    with pytest.raises(ConfigError, match="cannot read"):
        read_json_records(str(tmp_path / "missing.json"))
