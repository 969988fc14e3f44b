"""Decontamination inside sft-mix: a task overlapping an evaluation set is dropped with the matched
benchmark item, its rollouts are filtered as `task_contaminated`, and the run still reconciles."""

from __future__ import annotations

import json

import duckdb
import pytest

from tracemill.cli import main

pytestmark = pytest.mark.sandbox


def test_contaminated_task_and_its_rollouts_are_removed(tmp_path, sample_tasks):
    leaked = sample_tasks["textkit-3"]
    evalset = tmp_path / "eval.jsonl"
    evalset.write_text(json.dumps({"instance_id": "bench__slug-7", "repo": "other/slugs",
                                   "problem_statement": leaked["problem_statement"], "patch": "",
                                   "FAIL_TO_PASS": "[]", "PASS_TO_PASS": "[]"}) + "\n")
    out = tmp_path / "out"
    assert main(["sft-mix", "--quiet", "--out", str(out), "--set", "grading.timeout_s=3",
                 "--set", f"decontam.swe_bench=[{evalset}]", "--set", "decontam.ngram=5"]) == 0
    con = duckdb.connect(str(out / "audit.duckdb"), read_only=True)
    task_rows = con.execute("select record_id, stage, reason, duplicate_of from rejections "
                            "where record_kind = 'task' and stage = 'decontam'").fetchall()
    assert len(task_rows) == 1 and task_rows[0][0] == "textkit-3"
    assert task_rows[0][2].startswith("benchmark_") and "bench__slug-7" in task_rows[0][3]
    rollouts = con.execute("select record_id from rejections where reason = 'task_contaminated' "
                           "order by 1").fetchall()
    assert [r[0] for r in rollouts] == ["r-010", "r-011", "r-012"]
    assert con.execute("select count(*) from rl where instance_id = 'textkit-3'").fetchall()[0][0] == 0
    assert json.loads((out / "manifest.json").read_text())["counts"]["reconciled"]
