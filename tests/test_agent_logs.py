"""Agent-log adapters on small literal logs written the way each agent writes them."""

from __future__ import annotations

import json

import pytest

import schemas
from tracemill.errors import RecordError
from tracemill.records import strip_origin
from tracemill.sources.agent_logs import adapt, detect_format, openai_chat, read_records, read_trajectories

SWE_AGENT_0 = {
    "environment": "swe_main",
    "history": [
        {"role": "system", "content": "SETTING: commands: open, edit, submit", "agent": "primary"},
        {"role": "user", "content": "--- DEMONSTRATION ---\n```\nls\n```", "is_demo": True, "agent": "primary"},
        {"role": "user", "content": "ISSUE: division is broken\n(Open file: n/a)\nbash-$", "agent": "primary"},
        {"role": "assistant", "content": "Let me look.\n```\nopen src/div.py\n```", "thought": "Let me look.",
         "action": "open src/div.py\n", "agent": "primary"},
        {"role": "user", "content": "[File: src/div.py]\n1:def div(a, b) -> float\n(Open file: src/div.py)\nbash-$",
         "agent": "primary"},
        {"role": "assistant", "content": "Fixed. Run it.\n```\npython -c 'import src.div'\n```", "thought": "Fixed.",
         "action": "python -c 'import src.div'\n", "agent": "primary"},
        {"role": "user", "content": "\n(Open file: src/div.py)\nbash-$", "agent": "primary"},
        {"role": "assistant", "content": "Submit.\n```\nsubmit\n```", "thought": "Submit.", "action": "submit\n",
         "agent": "primary"},
    ],
    "trajectory": [
        {"action": "open src/div.py\n", "observation": "[File: src/div.py]\n1:def div(a, b) -> float\n",
         "response": "...", "state": "{}", "thought": "Let me look."},
        {"action": "python -c 'import src.div'\n", "observation": "", "response": "...", "state": "{}",
         "thought": "Fixed."},
        {"action": "submit\n", "observation": "diff --git a/src/div.py b/src/div.py\n", "response": "...",
         "state": "{}", "thought": "Submit."},
    ],
    "info": {"exit_status": "submitted", "submission": "diff --git a/src/div.py b/src/div.py\n",
             "model_stats": {"api_calls": 3}},
}

SWE_AGENT_1_FC = {
    "environment": "main",
    "history": [
        {"message_type": "system_prompt", "role": "system", "content": "You are a helpful assistant.", "agent": "main"},
        {"message_type": "observation", "role": "user", "content": [{"type": "text", "text": "<pr>fix it</pr>"}],
         "agent": "main"},
        {"message_type": "action", "role": "assistant", "content": "Look first.", "action": "ls", "agent": "main",
         "tool_calls": [{"id": "toolu_1", "type": "function",
                         "function": {"name": "bash", "arguments": {"command": "ls"}}}]},
        {"message_type": "observation", "role": "tool", "content": [{"type": "text", "text": "a.py"}],
         "agent": "main", "tool_call_ids": ["toolu_1"]},
    ],
    "trajectory": [{"action": "ls", "observation": "a.py", "response": "Look first.", "thought": "Look first."}],
    "info": {"swe_agent_version": "1.0.1", "submission": None, "exit_status": "exit_cost"},
    "replay_config": json.dumps({"problem_statement": {"id": "org__repo-7"},
                                 "agent": {"model": {"name": "claude-x"}}}),
}

MINI_LIST = [
    {"role": "system", "content": "Reply with exactly one ```mswea_bash_command block."},
    {"role": "user", "content": "Please solve this issue: x"},
    {"role": "assistant", "content": "THOUGHT: look\n\n```mswea_bash_command\nls -la\n```"},
    {"role": "user", "content": "<returncode>0</returncode>\n<output>\na.py\n</output>"},
    {"role": "assistant", "content": "two blocks\n```bash\nls\n```\n```bash\npwd\n```"},
    {"role": "user", "content": "Please always provide EXACTLY ONE action in triple backticks."},
    {"role": "assistant", "content": "done\n```bash\necho COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT && git diff\n```"},
    {"role": "user", "content": "diff --git a/a.py b/a.py\n"},
]

MINI_V2 = {
    "trajectory_format": "mini-swe-agent-1.1",
    "instance_id": "org__repo-9",
    "info": {"exit_status": "Submitted", "submission": "diff --git a/b.py b/b.py\n", "mini_version": "2.0.0",
             "config": {"model": {"model_name": "openai/gpt-5-mini"}}, "model_stats": {"api_calls": 2}},
    "messages": [
        {"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "content": "Fix b.py"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_a", "type": "function", "function": {"name": "bash", "arguments": "{\"command\": \"cat b.py\"}"}}],
         "extra": {"cost": 0.01}},
        {"role": "tool", "tool_call_id": "call_a", "content": "<returncode>0</returncode>\n<output>x=1</output>",
         "extra": {"returncode": 0}},
        {"role": "assistant", "content": "", "tool_calls": [
            {"id": "call_b", "type": "function",
             "function": {"name": "bash", "arguments": "{\"command\": \"echo COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT\"}"}}]},
        {"role": "exit", "content": "diff --git a/b.py b/b.py\n", "extra": {"exit_status": "Submitted"}},
    ],
}


def _response(rid, content, calls, model="served-model@step-3"):
    return {"id": rid, "model": model, "choices": [{"index": 0, "message": {
        "role": "assistant", "content": content, "tool_calls": [
            {"index": i, "id": cid, "type": "function", "function": {"name": name, "arguments": args}}
            for i, (cid, name, args) in enumerate(calls)]}}]}


_RESP = _response("r1", "Two things at once.", [("t1", "execute_bash", "{\"command\": \"ls\"}"),
                                                ("t2", "execute_bash", "{\"command\": \"pwd\"}")])
OPENHANDS_EVENTS = [
    {"id": 0, "source": "agent", "action": "system", "args": {"content": "You are OpenHands.", "tools": [
        {"type": "function", "function": {"name": "execute_bash", "description": "run",
                                          "parameters": {"type": "object"}}}]}},
    {"id": 1, "source": "user", "action": "message", "message": "fix it", "args": {"content": "fix it"}},
    {"id": 2, "source": "user", "action": "recall", "args": {"query": "fix it"}},
    {"id": 3, "source": "environment", "observation": "recall", "cause": 2, "content": "workspace context"},
    {"id": 4, "source": "agent", "action": "run", "args": {"command": "ls"},
     "tool_call_metadata": {"function_name": "execute_bash", "tool_call_id": "t1", "model_response": _RESP}},
    {"id": 5, "source": "agent", "action": "run", "args": {"command": "pwd"},
     "tool_call_metadata": {"function_name": "execute_bash", "tool_call_id": "t2", "model_response": _RESP}},
    {"id": 6, "source": "agent", "observation": "run", "cause": 4, "content": "a.py",
     "tool_call_metadata": {"function_name": "execute_bash", "tool_call_id": "t1", "model_response": _RESP}},
    {"id": 7, "source": "agent", "observation": "run", "cause": 5, "content": "/workspace",
     "tool_call_metadata": {"function_name": "execute_bash", "tool_call_id": "t2", "model_response": _RESP}},
    {"id": 8, "source": "agent", "action": "finish", "args": {},
     "tool_call_metadata": {"function_name": "finish", "tool_call_id": "t3",
                            "model_response": _response("r2", "Done.", [("t3", "finish", "{}")],
                                                        model="served-model@step-5")}},
]


def _write(tmp_path, name, obj, jsonl=False):
    path = tmp_path / name
    path.write_text("\n".join(json.dumps(o) for o in obj) + "\n" if jsonl else json.dumps(obj))
    return path


def _one(tmp_path, name, obj, **kw):
    trajs = [strip_origin(t) for t in read_trajectories(_write(tmp_path, name, obj, **kw))]
    assert len(trajs) == 1
    assert schemas.errors("trajectory", trajs[0]) == []
    return trajs[0]


def test_detect_format_for_each_shape():
    assert detect_format(SWE_AGENT_0) == "swe-agent"
    assert detect_format(SWE_AGENT_1_FC) == "swe-agent"
    assert detect_format(MINI_LIST) == "mini-swe-agent"
    assert detect_format(MINI_V2) == "mini-swe-agent"
    assert detect_format(OPENHANDS_EVENTS) == "openhands"
    assert detect_format({"instance_id": "x", "messages": [{"role": "user", "content": "hi"}]}) == "openai-chat"


def test_unknown_format_names_file_and_keys(tmp_path):
    path = _write(tmp_path, "weird.json", {"steps": [], "outcome": 1})
    with pytest.raises(RecordError, match=r"weird\.json: \$: unknown agent-log format \(object with keys outcome, steps\)"):
        list(read_trajectories(path))


def test_predictions_file_given_as_a_log_gets_a_hint(tmp_path):
    path = _write(tmp_path, "preds.json", {"a__b-1": {"model_patch": "diff", "model_name_or_path": "m"}})
    with pytest.raises(RecordError, match="looks like a predictions/report file: pass it with --reports"):
        list(read_trajectories(path))


def test_broken_json_names_file_line_and_column(tmp_path):
    path = tmp_path / "broken.traj"
    path.write_text('{"trajectory": [\n  {"action": "ls",,}\n]}')
    rec = next(read_records(path))
    with pytest.raises(RecordError, match=r"broken\.traj:2: column 19: Expecting property name"):
        adapt(rec)


def test_swe_agent_0_text_actions_become_tool_calls_with_original_text_kept(tmp_path):
    t = _one(tmp_path, "org__repo-1.traj", SWE_AGENT_0)
    assert (t["instance_id"], t["source_format"], t["exit_status"]) == ("org__repo-1", "swe-agent-0", "submitted")
    calls = [m["tool_calls"][0] for m in t["messages"] if m["role"] == "assistant"]
    assert [c["function"]["name"] for c in calls] == ["open", "bash", "submit"]
    assert json.loads(calls[1]["function"]["arguments"]) == {"command": "python -c 'import src.div'\n"}
    assert t["messages"][3]["content"] == "Let me look.\n```\nopen src/div.py\n```"


def test_swe_agent_0_every_call_answered_and_final_observation_appended(tmp_path):
    t = _one(tmp_path, "org__repo-1.traj", SWE_AGENT_0)
    call_ids = [m["tool_calls"][0]["id"] for m in t["messages"] if m["role"] == "assistant"]
    answered = [m["tool_call_id"] for m in t["messages"] if m["role"] == "tool"]
    assert answered == call_ids
    assert t["messages"][-1]["content"] == "diff --git a/src/div.py b/src/div.py\n"
    assert t["metadata"]["final_observation_from_trajectory"] is True


def test_swe_agent_demonstration_stays_a_user_message(tmp_path):
    t = _one(tmp_path, "org__repo-1.traj", SWE_AGENT_0)
    assert t["messages"][1]["role"] == "user" and t["metadata"]["demonstration_message_indices"] == [1]


def test_synthesized_ids_are_deterministic(tmp_path):
    a = _one(tmp_path, "org__repo-1.traj", SWE_AGENT_0)
    b = _one(tmp_path, "org__repo-1.traj", SWE_AGENT_0)
    assert a == b and a["messages"][3]["tool_calls"][0]["id"].startswith("call_")


def test_swe_agent_1_function_calls_kept_and_content_parts_flattened(tmp_path):
    t = _one(tmp_path, "whatever.traj", SWE_AGENT_1_FC)
    assert (t["instance_id"], t["model"], t["source_format"]) == ("org__repo-7", "claude-x", "swe-agent-1")
    assert t["messages"][2]["tool_calls"] == [{"id": "toolu_1", "type": "function",
                                               "function": {"name": "bash", "arguments": "{\"command\": \"ls\"}"}}]
    assert t["messages"][3] == {"role": "tool", "content": "a.py", "tool_call_id": "toolu_1"}
    assert t["messages"][1]["content"] == "<pr>fix it</pr>" and t["patch"] is None


def test_mini_list_fenced_block_becomes_bash_call_and_format_error_keeps_user_message(tmp_path):
    t = _one(tmp_path, "org__repo-3.traj.json", MINI_LIST)
    roles = [m["role"] for m in t["messages"]]
    assert roles == ["system", "user", "assistant", "tool", "assistant", "user", "assistant", "tool"]
    assert json.loads(t["messages"][2]["tool_calls"][0]["function"]["arguments"]) == {"command": "ls -la"}
    assert "tool_calls" not in t["messages"][4] and t["metadata"]["format_errors"] == 1


def test_mini_list_submission_is_the_patch(tmp_path):
    t = _one(tmp_path, "org__repo-3.traj.json", MINI_LIST)
    assert (t["instance_id"], t["patch"], t["exit_status"]) == ("org__repo-3", "diff --git a/a.py b/a.py\n", "Submitted")


def test_mini_v2_tool_calls_and_exit_message(tmp_path):
    t = _one(tmp_path, "x.traj.json", MINI_V2)
    assert (t["instance_id"], t["model"], t["source_format"]) == ("org__repo-9", "openai/gpt-5-mini", "mini-swe-agent-1.1")
    assert [m["role"] for m in t["messages"]] == ["system", "user", "assistant", "tool", "assistant"]
    assert t["metadata"]["exit_message"]["extra"] == {"exit_status": "Submitted"}
    assert t["patch"] == "diff --git a/b.py b/b.py\n" and t["metadata"]["fields_not_carried"] == ["extra"]


def test_mini_v1_dataset_rows_with_top_level_fields(tmp_path):
    row = {"instance_id": "o__r-1", "repo": "o/r", "trajectory_format": "mini-swe-agent-1", "exit_status": "incomplete",
           "messages": MINI_LIST[:4], "duration_sec": 26.9}
    t = _one(tmp_path, "rows.jsonl", [row], jsonl=True)
    assert (t["instance_id"], t["exit_status"], t["source_format"], t["patch"]) == \
        ("o__r-1", "incomplete", "mini-swe-agent-1", None)


def test_openhands_one_assistant_message_per_completion_with_policy_version(tmp_path):
    t = _one(tmp_path, "org__repo-5.json", OPENHANDS_EVENTS)
    assistants = [m for m in t["messages"] if m["role"] == "assistant"]
    assert [len(m["tool_calls"]) for m in assistants] == [2, 1]
    assert [m["tool_call_id"] for m in t["messages"] if m["role"] == "tool"] == ["t1", "t2"]
    assert (t["policy_version_begin"], t["policy_version_end"]) == ("served-model@step-3", "served-model@step-5")
    assert t["exit_status"] == "finished" and t["tools"][0]["function"]["description"] == "run"


def test_openhands_non_conversation_events_are_listed_not_dropped(tmp_path):
    t = _one(tmp_path, "org__repo-5.json", OPENHANDS_EVENTS)
    assert [e["id"] for e in t["metadata"]["events_not_in_conversation"]] == [2, 3]


def test_openai_chat_rows_with_string_tools_and_integer_resolved(tmp_path):
    row = {"instance_id": "org__repo-2", "trajectory_id": "t-2", "resolved": 1, "model_patch": "diff",
           "tools": json.dumps([{"type": "function", "function": {"name": "bash", "parameters": {"type": "object"}}}]),
           "messages": [{"role": "user", "content": "hi"},
                        {"role": "assistant", "content": None, "tool_calls": [
                            {"id": "c1", "type": "function", "function": {"name": "bash", "arguments": "{}"}}]},
                        {"role": "tool", "tool_call_id": "c1", "content": "ok"}], "license": "MIT"}
    t = _one(tmp_path, "rows.jsonl", [row], jsonl=True)
    assert (t["traj_id"], t["resolved"], t["reward"], t["patch"]) == ("t-2", True, 1.0, "diff")
    assert t["metadata"]["row_fields"] == {"license": "MIT"}


def test_openai_chat_bad_row_names_line_and_field(tmp_path):
    good = {"instance_id": "a", "messages": [{"role": "user", "content": "x"}]}
    bad = {"instance_id": "b", "messages": [{"role": "user", "content": "x"}, {"role": "function", "content": "y"}]}
    path = _write(tmp_path, "rows.jsonl", [good, bad], jsonl=True)
    recs = list(read_records(path))
    assert adapt(recs[0])["instance_id"] == "a"
    with pytest.raises(RecordError, match=r"rows\.jsonl:2: messages\[1\]\.role: unexpected role 'function'") as err:
        adapt(recs[1])
    assert err.value.path == "messages[1].role"


def test_tool_message_without_call_id_is_rejected(tmp_path):
    row = {"instance_id": "a", "messages": [{"role": "user", "content": "x"}, {"role": "tool", "content": "y"}]}
    with pytest.raises(RecordError, match=r"messages\[1\]\.tool_call_id"):
        list(read_trajectories(_write(tmp_path, "r.jsonl", [row], jsonl=True)))


@pytest.mark.parametrize("name,obj", [("org__repo-1.traj", SWE_AGENT_0), ("x.traj", SWE_AGENT_1_FC),
                                      ("org__repo-3.traj.json", MINI_LIST), ("x.traj.json", MINI_V2),
                                      ("org__repo-5.json", OPENHANDS_EVENTS)])
def test_round_trip_through_openai_chat_keeps_the_conversation(tmp_path, name, obj):
    t = _one(tmp_path, name, obj)
    back = _one(tmp_path, "export.jsonl", [openai_chat.to_row(t)], jsonl=True)
    assert openai_chat.to_messages(back) == openai_chat.to_messages(t)
    assert (back["tools"], back["patch"], back["instance_id"], back["traj_id"], back["source_format"]) == \
        (t["tools"], t["patch"], t["instance_id"], t["traj_id"], t["source_format"])


def test_jsonl_line_numbers_skip_blank_lines(tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_text('{"instance_id": "a", "messages": [{"role": "user", "content": "x"}]}\n\n'
                    '{"instance_id": "b", "messages": [{"role": "user", "content": "y"}]}\n')
    assert [r["_origin"]["line"] for r in read_records(path)] == [1, 3]


def test_canonical_rows_of_the_bundled_sample_import_unchanged():
    from tracemill import sample

    path = sample.data_path("rollouts.jsonl")
    originals = {}
    for line in path.read_text().splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        originals[row.get("traj_id")] = row
    imported = 0
    for rec in read_records(path):
        try:
            t = strip_origin(adapt(rec))
        except RecordError:
            continue  # the sample carries deliberately broken rows
        original = originals[t["traj_id"]]
        # every field the row carried comes back unchanged; absent optional fields come back as null
        assert {k: t[k] for k in original if k != "metadata"} == {k: v for k, v in original.items() if k != "metadata"}
        assert all(t[k] is None for k in t if k not in original and k != "metadata")
        imported += 1
    assert imported >= 10
