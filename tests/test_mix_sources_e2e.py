"""Trace examples join the rollout SFT mixture through the same config: weights split the token
budget by source, and every ready-made example input line gets exactly one disposition."""

from __future__ import annotations

import json

import duckdb
import pytest

from tracemill.cli import main
from tracemill.mix import decide

pytestmark = pytest.mark.sandbox


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    root = tmp_path_factory.mktemp("mix")
    assert main(["traces", "--out", str(root / "traces"), "--quiet"]) == 0
    out = root / "mix"
    args = ["sft-mix", "--quiet", "--out", str(out), "--set", "grading.timeout_s=3",
            "--set", f"inputs.sft_examples=[{root / 'traces' / 'sft.jsonl'}]",
            "--set", "mix.sft.weights={rollouts: 1, traces: 1}", "--set", "mix.sft.token_budget=6000"]
    assert main(args) == 0
    return root, out


def test_trace_examples_are_selected_by_their_share_of_the_budget(mixed):
    root, out = mixed
    traces = [json.loads(line) for line in (root / "traces" / "sft.jsonl").read_text().splitlines()]
    total = sum(e["num_tokens"] for e in traces)
    p = min(1.0, 3000 / total)  # half of 6000 tokens
    expected = sorted(e["id"] for e in traces if decide(e, 0, p)[0])
    con = duckdb.connect(str(out / "audit.duckdb"), read_only=True)
    got = sorted(r[0] for r in con.execute("select id from sft where source = 'traces'").fetchall())
    assert got == expected and 0 < len(got) < len(traces)
    rollouts = con.execute("select count(*) from sft where source = 'rollouts'").fetchall()[0][0]
    assert rollouts == 4  # their share (3000 tokens) exceeds what they have: all kept


def test_every_example_line_is_accounted_for(mixed):
    root, out = mixed
    n = len((root / "traces" / "sft.jsonl").read_text().splitlines())
    m = json.loads((out / "manifest.json").read_text())
    assert m["counts"]["reconciled"]
    assert m["counts"]["by_kind"]["sft_example"]["emitted"] + m["counts"]["by_kind"]["sft_example"]["filtered"] == n
