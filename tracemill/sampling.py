"""Rejection sampling: a graded rollout becomes an RL example (reward and reason), and an SFT example
when its patch resolved the task. Also pass@k per task.

Outcome -> (reward, reason) follows CWM: +1 when every FAIL_TO_PASS and PASS_TO_PASS test passes, -1
otherwise. Infrastructure failures never reach this module: they are dead-lettered upstream.
"""

from __future__ import annotations

from math import comb

from tracemill.records import ORIGIN
from tracemill.tokens import count_messages
from tracemill.verify.grading import selection_files
from tracemill.verify.pytest_runner import test_command

REASON_BY_OUTCOME = {"resolved": "resolved", "unresolved": "fail", "timeout": "timeout",
                     "patch_failed": "patch_failed"}
# A rollout with nothing to grade keeps why it stopped: a timeout or persistent malformed tool calls
# are the policy's failures and are labelled as such; anything else simply produced no patch.
REASON_BY_EXIT_STATUS = {"timeout": "timeout", "format_error": "format_error"}
_SFT_KEYS = ("role", "content", "tool_calls", "tool_call_id", "name")


def reason_without_test_run(exit_status: str | None) -> str:
    return REASON_BY_EXIT_STATUS.get(exit_status or "", "no_patch")


def sft_message(m: dict) -> dict:
    """A message as trainers read it: OpenAI chat keys only, None-valued keys omitted."""
    return {k: m[k] for k in _SFT_KEYS if m.get(k) is not None}


def split_prompt(messages: list[dict]) -> tuple[list[dict], list[dict]]:
    """(prompt, completion): the prompt ends with the first user message."""
    for i, m in enumerate(messages):
        if m["role"] == "user":
            return messages[: i + 1], messages[i + 1 :]
    return [], list(messages)


def verifier(task: dict) -> dict:
    tests = task["FAIL_TO_PASS"] + task["PASS_TO_PASS"]
    return {"repo": task["repo"], "base_commit": task["base_commit"],
            "test_command": task.get("test_command") or test_command(selection_files(tests)),
            "test_patch": task["test_patch"], "FAIL_TO_PASS": list(task["FAIL_TO_PASS"]),
            "PASS_TO_PASS": list(task["PASS_TO_PASS"])}


def outcome_of(traj: dict, test_run: dict | None) -> tuple[bool, str]:
    """(resolved, reason) for a rollout; a missing patch is `no_patch` without any test run."""
    if test_run is None:
        return False, reason_without_test_run(traj.get("exit_status"))
    return test_run["resolved"], REASON_BY_OUTCOME[test_run["outcome"]]


def examples(traj: dict, task: dict, test_run: dict | None, rewards: tuple[float, float] = (1.0, -1.0),
             source: str = "rollouts") -> tuple[dict, dict | None, dict]:
    """(graded trajectory, SFT example or None, RL example) for one rollout."""
    resolved, reason = outcome_of(traj, test_run)
    reward = rewards[0] if resolved else rewards[1]
    graded = {k: v for k, v in traj.items() if k != ORIGIN}
    graded.update(resolved=resolved, reward=reward)
    graded[ORIGIN] = traj.get(ORIGIN)
    prompt, completion = split_prompt(traj["messages"])
    rl = {
        "id": f"rl-{traj['traj_id']}", "traj_id": traj["traj_id"], "instance_id": traj["instance_id"],
        "source": source, "agent": traj.get("agent"), "model": traj.get("model"),
        "prompt": prompt, "messages": completion, "tools": traj.get("tools") or [],
        "reward": reward, "reason": reason, "resolved": resolved, "verifier": verifier(task),
        "num_tokens": count_messages(traj["messages"]),
        "policy_version_begin": traj.get("policy_version_begin"),
        "policy_version_end": traj.get("policy_version_end"),
        "test_run_id": test_run["run_id"] if test_run else None,
    }
    sft = None
    if resolved:
        messages = [sft_message(m) for m in traj["messages"]]
        sft = {"id": f"sft-{traj['traj_id']}", "source": source, "task_kind": "swe_rollout",
               "instance_id": traj["instance_id"], "traj_id": traj["traj_id"], "model": traj.get("model"),
               "messages": messages, "tools": traj.get("tools") or [], "num_tokens": count_messages(messages),
               "metadata": {"agent": traj.get("agent"), "test_run_id": test_run["run_id"]}}
    return graded, sft, rl


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k estimator (Chen et al. 2021) from n samples with c correct."""
    if k > n:
        raise ValueError("k > n")
    if n - c < k:
        return 1.0
    return 1.0 - comb(n - c, k) / comb(n, k)
