"""Adapters on the real logs in ../shared/fixtures: every action, observation and final patch survives."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import schemas
from tracemill.records import strip_origin
from tracemill.sources.agent_logs import adapt, openai_chat, read_records

FIXTURES = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures"
TRAJ = FIXTURES / "trajectories"
SWE_SMITH_IDS = ("pandas-dev__pandas.95280573.pr_53652", "pydantic__pydantic.acb0f10f.pr_8316")

if not TRAJ.exists():
    pytest.skip(f"shared fixtures absent at {TRAJ}", allow_module_level=True)

SWE_AGENT_FILES = sorted(TRAJ.glob("swe-agent/*.traj")) + sorted(TRAJ.glob("swe-smith/*/*.traj"))
LOG_FILES = [*SWE_AGENT_FILES, TRAJ / "mini-swe-agent/github_issue.traj.json",
             TRAJ / "mini-swe-agent/local.traj.json", TRAJ / "openhands/runtime_trajs_basic.json",
             TRAJ / "openhands/multi_swe_bench_examples_output.jsonl"]


def _trajs(path: Path) -> list[dict]:
    return [strip_origin(adapt(r)) for r in read_records(path)]


@pytest.mark.parametrize("path", LOG_FILES, ids=lambda p: p.name)
def test_real_log_adapts_to_a_valid_trajectory(path):
    for t in _trajs(path):
        assert schemas.errors("trajectory", t) == []


@pytest.mark.parametrize("path", SWE_AGENT_FILES, ids=lambda p: p.name)
def test_swe_agent_every_step_action_and_observation_is_in_the_conversation(path):
    raw = json.loads(path.read_text())
    t = _trajs(path)[0]
    calls = [c for m in t["messages"] if m["role"] == "assistant" for c in m.get("tool_calls") or []]
    tool_texts = [m["content"] for m in t["messages"] if m["role"] == "tool"]
    assert len(calls) == len(raw["trajectory"]) == len(tool_texts)
    for step, call, observed in zip(raw["trajectory"], calls, tool_texts, strict=True):
        args = json.loads(call["function"]["arguments"])
        if args == {"command": step["action"]}:
            pass  # synthesized from the text action
        else:
            assert raw["info"].get("swe_agent_version") or "replay_config" in raw  # native function call
        assert step["observation"].strip() in observed
    assert t["patch"] == raw["info"]["submission"]


@pytest.mark.parametrize("iid", SWE_SMITH_IDS)
def test_swe_smith_trajectories_agree_with_swe_smiths_own_sft_conversion(iid):
    """ft_xml_example.jsonl is SWE-smith's converter output for the same runs. Differences, by design:
    it rewrites the system prompt and appends XML function calls to assistant text; it also drops the
    last observation (the submitted diff), which we keep because every observation must survive."""
    ref_path = FIXTURES / "instances" / "swe-smith" / "ft_xml_example.jsonl"
    ref = {r["instance_id"]: r for r in map(json.loads, ref_path.read_text().splitlines())}[iid]["messages"]
    t = _trajs(TRAJ / "swe-smith" / iid / f"{iid}.traj")[0]
    ours_assistant = [m["content"] for m in t["messages"] if m["role"] == "assistant"]
    ref_assistant = [m["content"] for m in ref if m["role"] == "assistant"]
    assert len(ours_assistant) == len(ref_assistant)
    assert all(b.startswith(a.rstrip()) for a, b in zip(ours_assistant, ref_assistant, strict=True))
    ours_obs = [m["content"] for m in t["messages"] if m["role"] == "tool"]
    ref_obs = [m["content"] for m in ref if m["role"] == "user"][1:]  # first user message is the task
    assert ours_obs[:-1] == ref_obs and ours_obs[-1].startswith("OBSERVATION:\ndiff --git")
    assert t["messages"][1]["content"] == ref[1]["content"]


def test_mini_swe_agent_list_keeps_every_command_and_the_submission():
    path = TRAJ / "mini-swe-agent" / "github_issue.traj.json"
    raw = json.loads(path.read_text())
    t = _trajs(path)[0]
    commands = [json.loads(c["function"]["arguments"])["command"] for m in t["messages"] for c in m.get("tool_calls") or []]
    assert len(commands) == sum(1 for m in raw if m["role"] == "assistant") == 10
    assert commands[0].startswith("cat /Users/fuchur")
    assert t["patch"] == raw[-1]["content"] and t["patch"].startswith("diff --git a/tests/missing_colon.py")


def test_openhands_eval_rows_keep_every_tool_call_observation_and_patch():
    path = TRAJ / "openhands" / "multi_swe_bench_examples_output.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    for row, t in zip(rows, _trajs(path), strict=True):
        call_ids = {c["id"] for m in t["messages"] for c in m.get("tool_calls") or []}
        answered = [m["tool_call_id"] for m in t["messages"] if m["role"] == "tool"]
        actions = [e for e in row["history"] if "action" in e and e.get("tool_call_metadata")]
        observations = [e for e in row["history"] if "observation" in e and e.get("tool_call_metadata")]
        assert {e["tool_call_metadata"]["tool_call_id"] for e in actions} == call_ids
        assert answered == [e["tool_call_metadata"]["tool_call_id"] for e in observations]
        assert t["patch"] == row["test_result"]["git_patch"] and t["instance_id"] == row["instance_id"]
    assert [t["exit_status"] for t in _trajs(path)] == ["finished", "finished", "error"]


def test_openhands_event_list_model_is_the_served_model():
    t = _trajs(TRAJ / "openhands" / "runtime_trajs_basic.json")[0]
    assert t["model"] == t["policy_version_end"] == "claude-3-5-sonnet-20241022"
    assert [m["role"] for m in t["messages"]] == ["user", "assistant", "tool", "assistant"]


@pytest.mark.parametrize("path", LOG_FILES, ids=lambda p: p.name)
def test_real_logs_round_trip_through_openai_chat(path, tmp_path):
    for t in _trajs(path):
        export = tmp_path / "export.jsonl"
        export.write_text(json.dumps(openai_chat.to_row(t)) + "\n")
        back = _trajs(export)[0]
        assert openai_chat.to_messages(back) == openai_chat.to_messages(t)
        assert (back["tools"], back["patch"], back["traj_id"]) == (t["tools"], t["patch"], t["traj_id"])
