"""The bash-first agent loop: real sandboxed actions on a private copy, driven by the loopback test double."""

from __future__ import annotations

import asyncio
import json

import pytest

from tracemill.agent import loop
from tracemill.agent.client import ClientSettings, PolicyClient
from tracemill.agent.loop import (
    AgentLimits,
    FormatError,
    Sampling,
    Workspace,
    parse_call,
    run_episode,
    truncate,
)
from tracemill.errors import InfraError
from tracemill.sandbox import ExecStatus, SandboxResult
from tracemill.testing.openai_server import VERSION_HEADER, OpenAITestServer, ScriptedPolicyTestDouble
from tracemill.verify.patches import touched_files

FAST = AgentLimits(max_turns=10, step_timeout_s=20, rollout_timeout_s=60)


def episode(sample_tasks, sample_repo, plan, *, instance_id="textkit-1", limits=FAST, client_kw=None, **double_kw):
    """Run one rollout of `instance_id` against a fresh loopback server; returns (episode, double)."""
    task = sample_tasks[instance_id]
    policy = ScriptedPolicyTestDouble(sample_tasks.values(), plan, **double_kw)

    async def go(server):
        client = PolicyClient(ClientSettings(base_url=server.base_url, model="scripted-policy", backoff_base_s=0.001,
                                             **(client_kw or {})))
        ws = await asyncio.to_thread(Workspace.create, sample_repo, task["base_commit"], limits)
        try:
            return await run_episode(task, client, ws, limits, Sampling(temperature=0.5, seed=7),
                                     rollout_id=f"{instance_id}/0")
        finally:
            ws.close()
            await client.close()

    with OpenAITestServer(policy) as server:
        return asyncio.run(go(server)), policy


def assistant(ep):
    return [m for m in ep.messages if m["role"] == "assistant"]


# -- pure parts ----------------------------------------------------------------------------------

def test_truncate_keeps_head_and_tail_within_budget():
    text = "HEAD" + "x" * 10_000 + "TAIL"
    out = truncate(text, 200)
    assert len(out) <= 200 and out.startswith("HEAD") and out.endswith("TAIL") and "characters omitted" in out
    assert truncate("short", 200) == "short"


@pytest.mark.parametrize("name,arguments,message", [
    ("python", "{}", "unknown tool 'python'"),
    ("bash", '{"command": "ls"', "not valid JSON"),
    ("bash", "[1]", "must be a JSON object"),
    ("edit", '{"path": "a.py", "old": "x"}', "needs a string argument 'new'"),
])
def test_malformed_calls_are_named(name, arguments, message):
    with pytest.raises(FormatError, match=message):
        parse_call({"id": "c", "type": "function", "function": {"name": name, "arguments": arguments}})


def test_submit_takes_no_arguments():
    assert parse_call({"id": "c", "type": "function", "function": {"name": "submit", "arguments": ""}}) == ("submit", {})


def test_a_sandbox_that_cannot_start_is_an_infra_error(monkeypatch, sample_repo, sample_tasks):
    monkeypatch.setattr(loop, "run_sandboxed", lambda *a, **k: SandboxResult(ExecStatus.INFRA_ERROR, None, "", "",
                                                                               0.0, "bwrap: setting up uid map"))
    ws = Workspace.create(sample_repo, sample_tasks["textkit-1"]["base_commit"], FAST)
    try:
        with pytest.raises(InfraError) as err:
            ws.bash("ls", 5)
        assert err.value.reason == "sandbox_unavailable" and ws.sandbox_steps == FAST.infra_retries + 1
    finally:
        ws.close()


# -- the workspace -------------------------------------------------------------------------------

@pytest.mark.sandbox
def test_working_copy_hides_the_tests_and_diffs_new_files(sample_repo, sample_tasks):
    task = sample_tasks["textkit-1"]
    ws = Workspace.create(sample_repo, task["base_commit"], FAST)
    try:
        assert "test_from_roman_subtractive" not in (ws.tree / "tests/test_roman.py").read_text()
        out, ok = ws.bash("python -m pytest -p no:terminal tests/test_roman.py && echo ran > notes.txt", 20)
        assert ok, out
        diff = ws.diff()
        assert touched_files(diff) == ["notes.txt"]  # no __pycache__, no pytest cache
        assert diff.startswith("diff --git a/notes.txt b/notes.txt\nnew file mode 100644\n")
        assert diff.endswith("--- /dev/null\n+++ b/notes.txt\n@@ -0,0 +1 @@\n+ran\n")
    finally:
        ws.close()


@pytest.mark.sandbox
def test_file_tools_stay_inside_the_repository(sample_repo, sample_tasks):
    ws = Workspace.create(sample_repo, sample_tasks["textkit-1"]["base_commit"], FAST)
    try:
        ws.bash("ln -s / escape", 5)
        for path in ("../outside.txt", "escape/tmp/x.txt", "/etc/hostname"):
            text, ok = ws.file_tool({"op": "create", "path": path, "content": "x"}, 10)
            assert not ok and "outside the repository" in text, (path, text)
        text, ok = ws.file_tool({"op": "create", "path": "/repo/pkg/new.py", "content": "A = 1\n"}, 10)
        assert ok and (ws.tree / "pkg/new.py").read_text() == "A = 1\n"
        text, ok = ws.file_tool({"op": "edit", "path": "pkg/new.py", "old": "B", "new": "C"}, 10)
        assert not ok and "not found" in text
    finally:
        ws.close()


@pytest.mark.sandbox
def test_the_repository_is_at_slash_repo_as_the_system_prompt_says(sample_repo, sample_tasks):
    ws = Workspace.create(sample_repo, sample_tasks["textkit-1"]["base_commit"], FAST)
    try:
        text, ok = ws.bash("cd /repo && head -n 1 textkit/roman.py && echo note > /repo/NOTE", 10)
        assert ok and text.startswith('"""Roman numerals."""'), text
        assert touched_files(ws.diff()) == ["NOTE"]
    finally:
        ws.close()


@pytest.mark.sandbox
def test_a_command_over_the_step_time_limit_is_killed_and_reported(sample_repo, sample_tasks):
    ws = Workspace.create(sample_repo, sample_tasks["textkit-1"]["base_commit"], FAST)
    try:
        text, ok = ws.bash("echo started; sleep 30", 0.5)
        assert not ok and text.startswith("started") and "timed out after 0.5s" in text
    finally:
        ws.close()


# -- whole rollouts ------------------------------------------------------------------------------

@pytest.mark.sandbox
def test_solving_rollout_submits_the_gold_change(sample_repo, sample_tasks):
    ep, policy = episode(sample_tasks, sample_repo, "solve")
    gold = sample_tasks["textkit-1"]["patch"]
    assert ep.exit_status == "submitted" and ep.format_errors == 0
    assert touched_files(ep.patch) == touched_files(gold)
    assert [line for line in ep.patch.splitlines() if line[:1] in "+-"] == \
        [line for line in gold.splitlines() if line[:1] in "+-"]
    calls = [m["tool_calls"][0] for m in assistant(ep)]
    assert [c["function"]["name"] for c in calls] == ["bash", "edit", "bash", "submit"]
    answered = [m["tool_call_id"] for m in ep.messages if m["role"] == "tool"]
    assert answered == [c["id"] for c in calls[:-1]]  # every executed call has its observation
    assert "tests pass" in ep.messages[-2]["content"]
    assert {r["temperature"] for r in policy.requests} == {0.5} and {r["seed"] for r in policy.requests} == {7}


@pytest.mark.sandbox
def test_repeating_the_same_action_ends_at_the_turn_limit(sample_repo, sample_tasks):
    limits = AgentLimits(max_turns=4, rollout_timeout_s=60)
    ep, _ = episode(sample_tasks, sample_repo, "loop", limits=limits)
    assert ep.exit_status == "turn_limit" and ep.turns == 4 and len(assistant(ep)) == 4
    assert ep.patch is None and ep.diff == ""


@pytest.mark.sandbox
def test_persistent_malformed_calls_end_as_format_error(sample_repo, sample_tasks):
    ep, _ = episode(sample_tasks, sample_repo, "malformed")
    assert ep.exit_status == "format_error" and ep.format_errors == FAST.max_format_errors
    errors = [m["content"] for m in ep.messages[2:] if m["role"] in ("tool", "user")]
    assert "not valid JSON" in errors[0] and "unknown tool 'python'" in errors[1] and "no tool call" in errors[2]


@pytest.mark.sandbox
def test_one_malformed_call_is_an_observation_not_the_end(sample_repo, sample_tasks):
    ep, _ = episode(sample_tasks, sample_repo, "recover")
    assert ep.exit_status == "submitted" and ep.format_errors == 1 and ep.patch


@pytest.mark.sandbox
def test_a_server_slower_than_the_request_timeout_ends_the_rollout_as_timeout(sample_repo, sample_tasks):
    ep, policy = episode(sample_tasks, sample_repo, "timeout", timeout_sleep_s=10, client_kw={"timeout_s": 0.5})
    assert ep.exit_status == "timeout" and "no answer within 0.5s" in ep.detail
    assert len(policy.requests) == 2  # step 0, then step 1 once: a timeout is not retried


@pytest.mark.sandbox
def test_rollout_wall_time_bounds_the_model_wait(sample_repo, sample_tasks):
    limits = AgentLimits(rollout_timeout_s=1.0)
    ep, _ = episode(sample_tasks, sample_repo, "timeout", limits=limits, timeout_sleep_s=10)
    assert ep.exit_status == "timeout"


@pytest.mark.sandbox
def test_conversation_over_the_token_budget_ends_as_token_limit(sample_repo, sample_tasks):
    ep, _ = episode(sample_tasks, sample_repo, "solve", limits=AgentLimits(max_tokens=400))
    assert ep.exit_status == "token_limit" and ep.patch is None and ep.context_tokens >= 400


@pytest.mark.sandbox
def test_observations_are_truncated_to_the_budget(sample_repo, sample_tasks):
    ep, _ = episode(sample_tasks, sample_repo, "solve", limits=AgentLimits(observation_chars=120))
    first = next(m for m in ep.messages if m["role"] == "tool")
    assert len(first["content"]) <= 120 and "characters omitted" in first["content"]


@pytest.mark.sandbox
def test_each_step_records_the_policy_version_that_produced_it(sample_repo, sample_tasks):
    """The served weights change mid-rollout, as under asynchronous RL."""
    holder = {}

    def swap_at_step_2(rollout, step):
        if step == 2:
            holder["policy"].set_version("v2")

    policy_kw = {"version": "v1", "on_request": swap_at_step_2}
    task = sample_tasks["textkit-1"]
    policy = ScriptedPolicyTestDouble(sample_tasks.values(), "solve", **policy_kw)
    holder["policy"] = policy

    async def go(server, header):
        client = PolicyClient(ClientSettings(base_url=server.base_url, model="scripted-policy", version_header=header))
        ws = await asyncio.to_thread(Workspace.create, sample_repo, task["base_commit"], FAST)
        try:
            return await run_episode(task, client, ws, FAST, rollout_id="textkit-1/0")
        finally:
            ws.close()
            await client.close()

    with OpenAITestServer(policy) as server:
        by_model = asyncio.run(go(server, None))
        policy.set_version("v1")
        by_header = asyncio.run(go(server, VERSION_HEADER))
    assert [m["policy_version"] for m in assistant(by_model)] == [
        "scripted-policy@v1", "scripted-policy@v1", "scripted-policy@v2", "scripted-policy@v2"]
    assert by_header.policy_versions == ["v1", "v1", "v2", "v2"]
    assert json.dumps(by_header.messages).count('"policy_version": "v2"') == 2
