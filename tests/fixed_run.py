"""One small fixed `tracemill sft-mix` run per test session, shared by the audit, card, validate and
datasets tests (import `fixed_run` into a test module). Not a test module itself."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

ARGS = ["--quiet", "--set", "grading.timeout_s=4"]
_RUN: dict[str, Path] = {}  # one run per process, whichever module asks first


@pytest.fixture(scope="session")
def fixed_run(tmp_path_factory) -> Path:
    if "out" not in _RUN:
        from tracemill.cli import main

        out = tmp_path_factory.mktemp("fixed-run") / "out"
        assert main(["sft-mix", "--out", str(out), *ARGS]) == 0
        _RUN["out"] = out
    return _RUN["out"]


def read_output(out: Path, name: str) -> list[dict]:
    """Records of one output, read from its JSONL shards with plain Python."""
    rows = []
    for path in sorted((out / name).glob("part-*.jsonl")):
        rows.extend(json.loads(line) for line in path.read_text().splitlines() if line.strip())
    return rows
