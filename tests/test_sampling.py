import pytest

from tracemill.records import ORIGIN
from tracemill.sampling import examples, pass_at_k, split_prompt


def _traj(patch="diff"):
    return {"traj_id": "t1", "instance_id": "i1", "agent": "a", "model": "m", "patch": patch, "tools": [],
            "policy_version_begin": "v1", "policy_version_end": "v2", ORIGIN: {"kind": "trajectory"},
            "messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "u"},
                         {"role": "assistant", "content": "a", "policy_version": "v1", "tool_calls": None}]}


TASK = {"instance_id": "i1", "repo": "r", "base_commit": "c" * 40, "test_patch": "tp",
        "FAIL_TO_PASS": ["t.py::a"], "PASS_TO_PASS": ["t.py::b"]}


def _run(outcome):
    return {"run_id": "run-1", "resolved": outcome == "resolved", "outcome": outcome}


def test_resolved_rollout_gives_sft_and_positive_rl():
    graded, sft, rl = examples(_traj(), TASK, _run("resolved"))
    assert graded["resolved"] is True and graded["reward"] == 1.0
    assert rl["reward"] == 1.0 and rl["reason"] == "resolved"
    assert sft["messages"][-1] == {"role": "assistant", "content": "a"}  # trainer keys only
    assert rl["prompt"][-1]["role"] == "user" and rl["messages"][0]["role"] == "assistant"
    assert rl["verifier"]["FAIL_TO_PASS"] == ["t.py::a"] and "pytest" in rl["verifier"]["test_command"]


@pytest.mark.parametrize("outcome,reason", [("unresolved", "fail"), ("timeout", "timeout"),
                                            ("patch_failed", "patch_failed")])
def test_failures_are_negative_rl_only(outcome, reason):
    _, sft, rl = examples(_traj(), TASK, _run(outcome))
    assert sft is None and rl["reward"] == -1.0 and rl["reason"] == reason


def test_missing_patch_is_no_patch():
    _, sft, rl = examples(_traj(patch=None), TASK, None)
    assert sft is None and rl["reason"] == "no_patch" and rl["test_run_id"] is None


def test_split_prompt_without_user_message():
    assert split_prompt([{"role": "assistant", "content": "x"}]) == ([], [{"role": "assistant", "content": "x"}])


@pytest.mark.parametrize("n,c,k,value", [(5, 0, 1, 0.0), (5, 5, 1, 1.0), (4, 1, 1, 0.25), (4, 1, 4, 1.0),
                                         (10, 3, 2, 1 - (7 * 6) / (10 * 9))])
def test_pass_at_k(n, c, k, value):
    assert pass_at_k(n, c, k) == pytest.approx(value)
