"""End to end: sample tasks -> `tracemill rollouts generate` against the loopback server -> hidden-test
grading -> `tracemill sft-mix` on the generated trajectories -> SFT and RL mixture, through the real CLI."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from tracemill.cli import main
from tracemill.testing.openai_server import OpenAITestServer, ScriptedPolicyTestDouble

pytestmark = [pytest.mark.sandbox, pytest.mark.slow]

# Two samples per task, one behaviour each: every reason of the RL vocabulary that a policy can earn.
PLAN = {"textkit-1": ["solve", "fail"], "textkit-2": ["recover", "timeout"],
        "textkit-3": ["malformed", "flaky"], "textkit-4": ["loop", "give_up"]}
EXPECTED = {("textkit-1", 0): "resolved", ("textkit-1", 1): "fail", ("textkit-2", 0): "resolved",
            ("textkit-2", 1): "timeout", ("textkit-3", 0): "format_error", ("textkit-3", 1): "resolved",
            ("textkit-4", 0): "no_patch", ("textkit-4", 1): "no_patch"}


def rollouts_generate(argv: list[str]) -> int:
    return main(["rollouts", "generate", *argv])


def read_dir(out: Path, name: str) -> list[dict]:
    return [json.loads(line) for p in sorted((out / name).glob("part-*.jsonl"))
            for line in p.read_text().splitlines() if line.strip()]


@pytest.fixture(scope="module")
def runs(sample_tasks, tmp_path_factory):
    gen_dir = tmp_path_factory.mktemp("gen") / "rollouts"
    mix_dir = tmp_path_factory.mktemp("mix") / "mix"
    policy = ScriptedPolicyTestDouble(sample_tasks.values(), PLAN, timeout_sleep_s=4)
    with OpenAITestServer(policy) as server:
        rc = rollouts_generate(["--base-url", server.base_url, "--model", "scripted-policy", "-k", "2",
                                "--out", str(gen_dir), "--temperature", "0.7", "--max-turns", "6",
                                "--request-timeout", "1", "--backoff", "0.01", "--grading-timeout", "20", "--quiet"])
    assert rc == 0
    rc = main(["sft-mix", "--quiet", "--out", str(mix_dir), "--set", f"inputs.rollouts=[{gen_dir}/trajectories.jsonl]",
               "--set", "dedup.near=false", "--set", "grading.timeout_s=20",
               # Parity with generate's own grading: the behaviour filters would drop the looping
               # rollout before grading (checked separately below).
               "--set", "filters.max_repeated_actions=null", "--set", "filters.max_tool_error_rate=null"])
    assert rc == 0
    return gen_dir, mix_dir, policy


def test_generation_earns_each_reason_it_was_scripted_for(runs):
    gen_dir, _, policy = runs
    trajs = [json.loads(line) for line in (gen_dir / "trajectories.jsonl").read_text().splitlines()]
    assert {(t["instance_id"], t["sample_index"]): t["metadata"]["reason"] for t in trajs} == EXPECTED
    assert all(t["reward"] == (1.0 if t["resolved"] else -1.0) for t in trajs)
    flaky = [r for r in policy.requests if r["behaviour"] == "flaky" and r["step"] == 0]
    assert len(flaky) == 3  # 429, 503, then the answer: retried, never a label
    manifest = json.loads((gen_dir / "manifest.json").read_text())
    assert manifest["counts"]["reconciled"] and manifest["counts"]["rollouts"]["dead_lettered"] == 0
    assert manifest["counts"]["rollouts"]["by_exit_status"] == {"format_error": 1, "submitted": 5, "timeout": 1,
                                                                "turn_limit": 1}


def test_sft_mix_reproduces_the_rewards_and_reasons(runs):
    gen_dir, mix_dir, _ = runs
    trajs = {t["traj_id"]: t for t in map(json.loads, (gen_dir / "trajectories.jsonl").read_text().splitlines())}
    rl = {r["traj_id"]: r for r in read_dir(mix_dir, "rl")}
    sft = {r["traj_id"] for r in read_dir(mix_dir, "sft")}
    assert set(rl) == set(trajs)
    for tid, t in trajs.items():
        assert (rl[tid]["reason"], rl[tid]["reward"], rl[tid]["resolved"]) == \
            (t["metadata"]["reason"], t["reward"], t["resolved"]), tid
        assert (rl[tid]["policy_version_begin"], rl[tid]["policy_version_end"]) == \
            (t["policy_version_begin"], t["policy_version_end"])
    assert sft == {tid for tid, t in trajs.items() if t["resolved"]}
    assert len(sft) == 3


def test_the_mixture_manifest_and_audit_db_agree(runs):
    _, mix_dir, _ = runs
    manifest = json.loads((mix_dir / "manifest.json").read_text())
    assert manifest["counts"]["reconciled"]
    pass_at = {r["instance_id"]: r["correct"] for r in manifest["metrics"]["pass_at_k"]}
    assert pass_at == {"textkit-1": 1, "textkit-2": 1, "textkit-3": 1, "textkit-4": 0}
    con = duckdb.connect(str(mix_dir / "audit.duckdb"), read_only=True)
    rows = con.execute("select reason, count(*) from rl group by reason order by reason").fetchall()
    assert rows == [("fail", 1), ("format_error", 1), ("no_patch", 2), ("resolved", 3), ("timeout", 1)]


def test_default_filters_drop_the_looping_rollout_with_a_reason(runs, tmp_path):
    gen_dir, _, _ = runs
    out = tmp_path / "filtered"
    assert main(["sft-mix", "--quiet", "--out", str(out), "--set", f"inputs.rollouts=[{gen_dir}/trajectories.jsonl]",
                 "--set", "dedup.near=false", "--set", "grading.timeout_s=20"]) == 0
    rejected = [r for r in read_dir(out, "rejections") if r["stage"] == "filter"]
    assert rejected and all(r["disposition"] == "filtered" and r["signal"] is not None for r in rejected)
    assert {r["reason"] for r in rejected} <= {"repeated_action_loop", "high_tool_error_rate"}
    assert json.loads((out / "manifest.json").read_text())["counts"]["reconciled"]
