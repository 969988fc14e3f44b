"""`tracemill sft-mix` end to end on the bundled sample, into a temp folder, through the real CLI."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from tracemill.cli import main

pytestmark = pytest.mark.sandbox
ARGS = ["--quiet", "--set", "grading.timeout_s=4"]


def run(out: Path, *extra: str) -> int:
    return main(["sft-mix", "--out", str(out), *ARGS, *extra])


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    a, b = tmp_path_factory.mktemp("a") / "out", tmp_path_factory.mktemp("b") / "out"
    assert run(a) == 0
    assert run(b) == 0
    return a, b


def db(out: Path):
    return duckdb.connect(str(out / "audit.duckdb"), read_only=True)


def test_counts_reconcile(runs):
    m = json.loads((runs[0] / "manifest.json").read_text())
    t = m["counts"]["total"]
    assert m["counts"]["reconciled"] is True
    assert t == {"input": 23, "emitted": 17, "filtered": 1, "deduplicated": 2, "dead_lettered": 3}
    assert t["input"] == t["emitted"] + t["filtered"] + t["deduplicated"] + t["dead_lettered"]


def test_every_input_line_has_exactly_one_disposition(runs):
    rows = db(runs[0]).execute("select source, line, count(*) from dispositions group by all").fetchall()
    assert len(rows) == 23 and {r[2] for r in rows} == {1}
    lines = db(runs[0]).execute("select line from dispositions where source like '%rollouts%' order by 1").fetchall()
    assert [r[0] for r in lines] == list(range(1, 19))


def test_two_runs_are_byte_identical(runs):
    a, b = runs
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file()
                   and p.name not in ("run_info.json", "audit.duckdb") and p.parent.name != "timings")
    assert len(files) > 20
    for rel in files:
        assert (a / rel).read_bytes() == (b / rel).read_bytes(), rel


def test_each_bad_input_gets_a_clear_disposition(runs):
    got = {r[0]: (r[1], r[2], r[3]) for r in db(runs[0]).execute(
        "select record_id, disposition, reason, error.message from rejections").fetchall()}
    assert got["@sample/rollouts.jsonl:9"][:2] == ("dead_lettered", "malformed_json")
    assert "rollouts.jsonl:9: invalid JSON" in got["@sample/rollouts.jsonl:9"][2]
    assert got["r-017"][:2] == ("dead_lettered", "schema_invalid") and "'messages'" in got["r-017"][2]
    assert got["textkit-5"][:2] == ("dead_lettered", "schema_invalid") and "base_commit" in got["textkit-5"][2]
    assert got["r-016"][:2] == ("filtered", "unknown_task")


def test_duplicates_name_the_kept_twin(runs):
    rows = db(runs[0]).execute("select record_id, reason, duplicate_of, similarity from rejections "
                           "where disposition = 'deduplicated' order by 1").fetchall()
    assert rows[0] == ("r-002", "exact_duplicate", "r-001", 1.0)
    assert rows[1][:3] == ("r-003", "near_duplicate", "r-001") and rows[1][3] >= 0.8


def test_rewards_and_reasons(runs):
    rl = dict(db(runs[0]).execute("select traj_id, reason from rl").fetchall())
    assert rl == {"r-001": "resolved", "r-004": "fail", "r-005": "fail", "r-006": "resolved", "r-007": "fail",
                  "r-008": "patch_failed", "r-009": "timeout", "r-010": "resolved", "r-011": "fail",
                  "r-012": "fail", "r-013": "resolved", "r-014": "fail", "r-015": "no_patch"}
    sft = {r[0] for r in db(runs[0]).execute("select traj_id from sft").fetchall()}
    assert sft == {"r-001", "r-006", "r-010", "r-013"}  # gaming rollouts r-005/r-011/r-012 are not accepted
    rewards = dict(db(runs[0]).execute("select reason, max(reward) from rl group by 1").fetchall())
    assert rewards["resolved"] == 1.0 and rewards["fail"] == -1.0


def test_policy_versions_survive_for_rl(runs):
    row = db(runs[0]).execute("select policy_version_begin, policy_version_end from rl where traj_id='r-006'").fetchone()
    assert row == ("step-100", "step-101")


def test_timings_are_kept_apart_from_deterministic_outputs(runs):
    m = json.loads((runs[0] / "manifest.json").read_text())
    assert not [o for o in m["outputs"] if o["path"].startswith("timings/")]
    rows = db(runs[0]).execute("select count(*), min(attempts), max(duration_s) from timings").fetchall()[0]
    assert rows[0] >= 11 and rows[1] >= 1 and rows[2] > 0


def test_manifest_lists_outputs_with_hashes_and_pass_at_k(runs):
    m = json.loads((runs[0] / "manifest.json").read_text())
    for entry in m["outputs"]:
        assert len(entry["sha256"]) == 64 and (runs[0] / entry["path"]).exists()
    by_task = {r["instance_id"]: r for r in m["metrics"]["pass_at_k"]}
    assert by_task["textkit-2"]["n"] == 4 and by_task["textkit-2"]["correct"] == 1
    assert {i["kind"] for i in m["inputs"]} == {"task", "trajectory"}


def test_token_budget_drops_examples_but_reconciles(tmp_path):
    out = tmp_path / "budget"
    assert run(out, "--set", "mix.sft.token_budget=900", "--set", "dedup.near=false") == 0
    m = json.loads((out / "manifest.json").read_text())
    assert m["counts"]["reconciled"]
    assert m["counts"]["examples"]["sft"]["dropped_by_mix"] >= 1
    drops = db(out).execute("select count(*) from rejections where stage='mix_sft' and reason='over_token_budget'")
    assert drops.fetchone()[0] == m["counts"]["examples"]["sft"]["dropped_by_mix"]


def test_refuses_a_foreign_output_folder(tmp_path, capsys):
    (tmp_path / "precious.txt").write_text("keep me")
    assert main(["sft-mix", "--out", str(tmp_path), "--quiet"]) == 2
    assert "not empty" in capsys.readouterr().err
    assert (tmp_path / "precious.txt").exists()


def test_too_many_dead_letters_fail_the_run_but_keep_outputs(tmp_path, capsys):
    out = tmp_path / "strict"
    assert run(out, "--set", "filters.max_dead_letter_ratio=0.1", "--set", "dedup.near=false") == 3
    assert "3 of 23 records dead-lettered, above filters.max_dead_letter_ratio=0.1" in capsys.readouterr().err
    assert json.loads((out / "manifest.json").read_text())["counts"]["reconciled"]
