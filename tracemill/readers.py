"""Reading JSONL inputs (gzip allowed) through Beam's FileSystems, keeping file and line of every record.

Line numbers are what make "every input record ends in exactly one place" checkable: a record that
cannot even be parsed is still accounted for as (file, line).
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import apache_beam as beam
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from tracemill import sample
from tracemill.errors import ConfigError, RecordError
from tracemill.records import ORIGIN

SAMPLE_PREFIX = "@sample/"


def resolve_input(path: str) -> str:
    """`@sample/NAME` names a file shipped with tracemill; anything else is a FileSystems path."""
    return str(sample.data_path(path[len(SAMPLE_PREFIX):])) if path.startswith(SAMPLE_PREFIX) else path


def iter_lines(path: str) -> Iterator[tuple[int, str]]:
    """(1-based line number, text) for every non-blank line of a (possibly gzipped) file."""
    with FileSystems.open(resolve_input(path), compression_type=CompressionTypes.AUTO) as fh:
        number = 0
        while raw := fh.readline():  # Beam's CompressedFile is not iterable
            number += 1
            text = raw.decode("utf-8", errors="replace").rstrip("\r\n")
            if text.strip():
                yield number, text


def read_json_records(path: str) -> list:
    """The values of a JSON document (an object, or an array of them) or of a JSON-lines file.

    For small side files (instances, evaluation sets, reports); any FileSystems path, gzip allowed.
    A file that is neither gets one ConfigError naming the file and the first bad line.
    """
    try:
        with FileSystems.open(resolve_input(path), compression_type=CompressionTypes.AUTO) as fh:
            text = fh.read().decode("utf-8")
    except Exception as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from exc
    try:
        data = json.loads(text)
        return data if isinstance(data, list) else [data]
    except json.JSONDecodeError:
        pass
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise ConfigError(f"{path}:{number}: neither a JSON document nor JSON lines: {exc.msg}") from exc
    return rows


def count_records(path: str) -> int:
    return sum(1 for _ in iter_lines(path))


def parse_line(item: dict) -> dict:
    """A raw line item {kind, source, line, text} -> the record dict tagged with its origin."""
    try:
        value = json.loads(item["text"])
    except json.JSONDecodeError as exc:
        raise RecordError(f"{item['source']}:{item['line']}: invalid JSON: {exc.msg} at column {exc.colno}",
                          path="$", reason="malformed_json") from exc
    if not isinstance(value, dict):
        raise RecordError(f"{item['source']}:{item['line']}: expected a JSON object, got {type(value).__name__}",
                          path="$", reason="malformed_json")
    value[ORIGIN] = {"kind": item["kind"], "source": item["source"], "line": item["line"]}
    return value


class _ReadLines(beam.DoFn):
    def __init__(self, kind: str):
        self._kind = kind

    def process(self, path: str):
        for number, text in iter_lines(path):
            yield {"kind": self._kind, "source": path, "line": number, "text": text,
                   ORIGIN: {"kind": self._kind, "source": path, "line": number}}


class ReadJsonLines(beam.PTransform):
    """Paths -> raw line items {kind, source, line, text}; parse them with `parse_line` in a Stage."""

    def __init__(self, paths: list[str] | tuple[str, ...], kind: str, label: str | None = None):
        super().__init__(label=label or f"Read{kind.title()}")
        self.paths, self.kind = list(paths), kind

    def expand(self, pbegin):
        return (pbegin
                | "Paths" >> beam.Create(self.paths)
                | "Lines" >> beam.ParDo(_ReadLines(self.kind))
                | "Spread" >> beam.Reshuffle())
