"""Trajectory filters on literal records: each asserts its reason code and the measured signal."""

from __future__ import annotations

import json

import pytest

import schemas
from filters import trajectory as ft
from tracemill.errors import ConfigError
from tracemill.records import Rejection

PATCH = "diff --git a/src/m.py b/src/m.py\n--- a/src/m.py\n+++ b/src/m.py\n@@ -1 +1 @@\n-a = 1\n+a = 2\n"
TEST_PATCH = ("diff --git a/tests/test_m.py b/tests/test_m.py\n--- a/tests/test_m.py\n+++ b/tests/test_m.py\n"
              "@@ -1 +1 @@\n-assert f() == 1\n+assert True\n")


def call(i: int, command: str) -> dict:
    return {"id": f"c{i}", "type": "function", "function": {"name": "bash", "arguments": json.dumps({"command": command})}}


def traj(steps: list[tuple[str, str]], patch: str | None = PATCH, **kw) -> dict:
    messages = [{"role": "system", "content": "sys"}, {"role": "user", "content": "task"}]
    for i, (command, observation) in enumerate(steps):
        messages.append({"role": "assistant", "content": f"step {i}", "tool_calls": [call(i, command)]})
        messages.append({"role": "tool", "content": observation, "tool_call_id": f"c{i}"})
    base = {"traj_id": "t1", "instance_id": "i1", "agent": "a", "model": "m", "messages": messages, "tools": [],
            "patch": patch, "exit_status": "submitted", "policy_version_begin": None, "policy_version_end": None,
            "source_format": "openai-chat", "resolved": None, "reward": None, "sample_index": None, "metadata": {}}
    return {**base, **kw}


OK_STEPS = [("ls", "a.py"), ("cat a.py", "a = 1"), ("sed -i s/1/2/ a.py", ""), ("python a.py", "")]
LIMITS = ft.TrajectoryLimits()


def test_clean_trajectory_passes_every_filter():
    assert ft.apply_filters(traj(OK_STEPS), LIMITS) == traj(OK_STEPS)


def test_too_many_turns_reports_turn_count():
    assert ft.max_turns(traj(OK_STEPS), ft.TrajectoryLimits(max_turns=3)) == Rejection("too_many_turns", 4, 3)


def test_too_many_tokens_reports_token_count():
    rej = ft.max_tokens(traj(OK_STEPS), ft.TrajectoryLimits(max_tokens=10))
    assert rej.reason == "too_many_tokens" and rej.signal > 10 and rej.limit == 10


def test_limit_none_disables_a_filter():
    assert ft.max_turns(traj(OK_STEPS), ft.TrajectoryLimits(max_turns=None)) is None


@pytest.mark.parametrize("patch,detail", [(None, "no patch"), ("  \n", "blank patch")])
def test_empty_patch(patch, detail):
    assert ft.empty_patch(traj(OK_STEPS, patch=patch), LIMITS) == Rejection("empty_patch", 0, 1, detail=detail)


def test_empty_patch_allowed_when_configured():
    assert ft.empty_patch(traj(OK_STEPS, patch=None), ft.TrajectoryLimits(require_patch=False)) is None


def test_patch_touching_test_files():
    rej = ft.patch_touches_tests(traj(OK_STEPS, patch=PATCH + TEST_PATCH), LIMITS)
    assert (rej.reason, rej.signal, rej.detail) == ("patch_touches_tests", 1, "tests/test_m.py")
    assert ft.patch_touches_tests(traj(OK_STEPS, patch=TEST_PATCH), ft.TrajectoryLimits(allow_test_file_edits=True)) is None


def test_repeated_action_loop_counts_identical_consecutive_calls():
    steps = [("ls", "a")] + [("python run.py", "Traceback (most recent call last):\nE")] * 6 + [("ls", "a")]
    assert ft.longest_repeat(traj(steps)) == 6
    assert ft.repeated_actions(traj(steps), LIMITS) == Rejection("repeated_action_loop", 6, 5)


def test_reformatted_json_arguments_are_the_same_action():
    t = traj([("ls", "")] * 2)
    t["messages"][4]["tool_calls"][0]["function"]["arguments"] = '{ "command" : "ls" }'
    assert ft.longest_repeat(t) == 2


def test_tool_error_rate_over_observations():
    steps = [("a", "<returncode>1</returncode>\n<output>x</output>"), ("b", "[Command finished with exit code 2]"),
             ("c", "bash: foo: command not found"), ("d", "ok"), ("e", "<returncode>0</returncode>")]
    assert ft.tool_error_rate(traj(steps)) == (3, 5)
    rej = ft.tool_errors(traj(steps), ft.TrajectoryLimits(max_tool_error_rate=0.5))
    assert (rej.reason, rej.signal, rej.limit) == ("high_tool_error_rate", 0.6, 0.5)


def test_tool_error_rate_needs_enough_observations():
    steps = [("a", "Error: nope"), ("b", "Error: nope")]
    assert ft.tool_errors(traj(steps), ft.TrajectoryLimits(max_tool_error_rate=0.1)) is None


KEY = "sk-proj-" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4"
GH = "ghp_" + "a" * 36


def test_secrets_are_found_by_kind():
    assert ft.find_secrets(f"export OPENAI_API_KEY={KEY}; token {GH}") == ["openai_api_key", "github_token"]
    assert ft.find_secrets("sha256 " + "ab" * 32) == []


def test_scrub_replaces_secrets_everywhere_and_keeps_arguments_json():
    t = traj([(f"curl -H 'Authorization: Bearer {KEY}' x", f"echo {GH}")], patch=PATCH + f"+token = '{GH}'\n")
    scrubbed, n = ft.scrub_secrets(t)
    assert n == 3 and ft.count_secrets(scrubbed) == 0
    args = json.loads(scrubbed["messages"][2]["tool_calls"][0]["function"]["arguments"])
    assert "[REDACTED:openai_api_key]" in args["command"]
    assert scrubbed["metadata"]["secrets_scrubbed"] == 3 and schemas.errors("trajectory", scrubbed) == []


def test_scrub_covers_metadata_carried_from_the_log():
    t = traj(OK_STEPS, metadata={"row_fields": {"note": f"key={KEY}"}})
    scrubbed, n = ft.scrub_secrets(t)
    assert n == 1 and scrubbed["metadata"]["row_fields"]["note"] == "key=[REDACTED:openai_api_key]"


def test_secret_policy_drop_rejects_with_count():
    t = traj([(f"echo {KEY}", "")])
    rej = ft.apply_filters(t, ft.TrajectoryLimits(secrets="drop"))
    assert (rej.reason, rej.signal, rej.detail) == ("leaked_secret", 1, "openai_api_key")


def test_secret_policy_scrub_keeps_the_record():
    out = ft.apply_filters(traj([(f"echo {KEY}", "")]), LIMITS)
    assert isinstance(out, dict) and out["metadata"]["secrets_scrubbed"] == 1


def test_private_key_block_is_one_secret():
    pem = "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\nabc\n-----END RSA PRIVATE KEY-----"
    assert ft.find_secrets(f"cat id_rsa\n{pem}\n") == ["private_key"]


def test_stale_policy_measures_version_distance():
    t = traj(OK_STEPS, policy_version_begin="policy@step-100", policy_version_end="policy@step-104")
    assert ft.stale_policy(t, ft.TrajectoryLimits(max_policy_staleness=2)) == Rejection(
        "stale_policy", 4, 2, detail="policy@step-100 -> policy@step-104")
    assert ft.stale_policy(t, ft.TrajectoryLimits(max_policy_staleness=4)) is None


def test_stale_policy_skips_versions_without_numbers():
    t = traj(OK_STEPS, policy_version_begin="gpt-x", policy_version_end="gpt-y")
    assert ft.stale_policy(t, ft.TrajectoryLimits(max_policy_staleness=0)) is None


def test_first_rejection_wins_in_cheap_first_order():
    t = traj([("ls", "")] * 7, patch=None)
    assert ft.apply_filters(t, ft.TrajectoryLimits(max_turns=3)).reason == "too_many_turns"
    assert ft.apply_filters(t, LIMITS).reason == "empty_patch"


def test_limits_are_checked():
    with pytest.raises(ConfigError, match="secrets must be one of"):
        ft.TrajectoryLimits(secrets="hide")
    with pytest.raises(ConfigError, match="max_tool_error_rate"):
        ft.TrajectoryLimits(max_tool_error_rate=2)


def test_reason_codes_fit_the_rejection_schema():
    import re

    pattern = re.compile(schemas.load("rejection")["properties"]["reason"]["pattern"])
    reasons = ["too_many_turns", "too_many_tokens", "empty_patch", "patch_touches_tests", "repeated_action_loop",
               "high_tool_error_rate", "leaked_secret", "stale_policy"]
    assert all(pattern.match(r) for r in reasons)
