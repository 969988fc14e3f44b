"""SWE-agent `.traj` files (0.x legacy and 1.x) -> canonical trajectories.

A `.traj` is one JSON object: `history` (the chat the model saw), `trajectory` (steps: action,
observation, response, thought), `info` (`submission` = final patch, `exit_status`, `model_stats`)
and, in 1.x, `replay_config` (problem statement id, model). 0.x and 1.x-without-function-calling
write actions as text (`find_file "x.py"`, `edit 4:4 ... end_of_edit`): those get a synthesized
tool call named after the SWE-agent command (`bash` for anything else), with the full command text
as `{"command": ...}`. The observation that follows becomes the call's `tool` message. The last
step's observation (the submitted diff) is missing from 0.x histories; it is appended from
`trajectory`, so every step's action and observation is in the conversation.
"""

from __future__ import annotations

import json
from typing import Any

from tracemill.sources.agent_logs import _common as c

NAME = "swe-agent"
# Commands of SWE-agent's bundled tools (0.x defaults and 1.x bundles); anything else ran in bash.
COMMANDS = frozenset({
    "open", "goto", "scroll_up", "scroll_down", "create", "edit", "insert", "search_dir", "search_file",
    "find_file", "submit", "str_replace_editor", "filemap", "exit_forfeit", "review_on_submit_m",
})


def sniff(obj: Any) -> bool:
    return isinstance(obj, dict) and isinstance(obj.get("trajectory"), list) and "info" in obj \
        and ("history" in obj or "environment" in obj)


def _replay_config(obj: dict, where: c.Where) -> dict:
    rc = obj.get("replay_config")
    if isinstance(rc, str):
        try:
            rc = json.loads(rc)
        except json.JSONDecodeError as exc:
            raise where.error("replay_config", f"not valid JSON: {exc.msg}") from exc
    return rc if isinstance(rc, dict) else {}


def is_v1(obj: dict) -> bool:
    info = obj.get("info") or {}
    return "replay_config" in obj or "swe_agent_version" in info or any(
        isinstance(m, dict) and "message_type" in m for m in obj.get("history") or [])


def command_name(action: str) -> str:
    words = action.strip().split(None, 1)
    return words[0] if words and words[0] in COMMANDS else "bash"


def to_trajectory(obj: dict, where: c.Where) -> dict:
    if not sniff(obj):
        raise where.error("$", "not a SWE-agent .traj object (needs trajectory, history, info)")
    info = obj.get("info")
    if not isinstance(info, dict):
        raise where.error("info", "missing or not an object")
    steps = obj["trajectory"]
    history = obj.get("history")
    v1 = is_v1(obj)
    rc = _replay_config(obj, where)
    ps = rc.get("problem_statement") if isinstance(rc.get("problem_statement"), dict) else {}
    instance_id = ps.get("id") or info.get("instance_id") or c.stem_instance_id(where.source, (".traj",))
    if not instance_id:
        raise where.error("replay_config.problem_statement.id", "no instance id in the log or its file name")
    traj_key = c.traj_id_for(NAME, instance_id, obj)
    notes: dict = {}
    if isinstance(history, list) and history:
        messages = _from_history(history, steps, traj_key, where, notes)
    else:
        messages = _from_steps(steps, traj_key, where, notes)
    if not messages:
        raise where.error("history", "no messages and no steps")
    model = ((rc.get("agent") or {}).get("model") or {}).get("name") if isinstance(rc.get("agent"), dict) else None
    stats = info.get("model_stats") if isinstance(info.get("model_stats"), dict) else {}
    meta = {
        "swe_agent_version": info.get("swe_agent_version") or ("1.x" if v1 else "0.x"),
        "steps": len(steps),
        "model_stats": stats,
        "environment": obj.get("environment"),
        **c.finish_notes(notes),
    }
    patch = info.get("submission")
    return c.trajectory(
        traj_id=traj_key, instance_id=str(instance_id), agent=NAME, model=model, messages=messages,
        tools=c.tools_for(messages), patch=patch if isinstance(patch, str) else None,
        exit_status=info.get("exit_status"), source_format="swe-agent-1" if v1 else "swe-agent-0",
        metadata=meta)


def _from_history(history: list, steps: list, traj_key: str, where: c.Where, notes: dict) -> list[dict]:
    out: list[dict] = []
    pending: list[str] = []  # ids of tool calls still waiting for their observation
    demos = []
    for i, raw in enumerate(history):
        f = f"history[{i}]"
        if not isinstance(raw, dict):
            raise where.error(f, "message is not an object")
        role = raw.get("role")
        content = c.text_of(raw.get("content"), where, f"{f}.content", notes)
        c.note_dropped_keys(notes, raw, c.MESSAGE_KEYS + ("tool_call_ids",))
        if role == "assistant":
            calls = c.tool_calls_of(raw.get("tool_calls"), where, f"{f}.tool_calls")
            action = raw.get("action")
            if not calls and isinstance(action, str) and action.strip():
                call = c.synth_call(traj_key, i, command_name(action), {"command": action})
                calls = [call]
                notes["synthesized_tool_calls"] = notes.get("synthesized_tool_calls", 0) + 1
            out.append(c.message("assistant", content, tool_calls=calls))
            pending = [call["id"] for call in calls or []]
        elif role == "tool":
            ids = raw.get("tool_call_ids") or ([raw["tool_call_id"]] if raw.get("tool_call_id") else pending[:1])
            if not ids:
                raise where.error(f"{f}.tool_call_ids", "tool message answers no tool call")
            for call_id in ids:
                out.append(c.message("tool", content, tool_call_id=call_id))
            pending = [p for p in pending if p not in ids]
        elif role == "user" and pending and not raw.get("is_demo"):
            # 0.x and text-mode 1.x send the observation as a user message: it answers the action.
            out.append(c.message("tool", content, tool_call_id=pending.pop(0)))
        elif role in ("system", "user"):
            if raw.get("is_demo"):
                demos.append(len(out))
            out.append(c.message(role, content))
        else:
            raise where.error(f"{f}.role", f"unexpected role {role!r}")
    if pending and steps and isinstance(steps[-1], dict) and steps[-1].get("observation") is not None:
        out.append(c.message("tool", str(steps[-1]["observation"]), tool_call_id=pending.pop(0)))
        notes["final_observation_from_trajectory"] = True
    if demos:
        notes["demonstration_message_indices"] = demos
    return out


def _from_steps(steps: list, traj_key: str, where: c.Where, notes: dict) -> list[dict]:
    """Old `.traj` files without `history`: one assistant + tool pair per step."""
    out = []
    for i, step in enumerate(steps):
        if not isinstance(step, dict):
            raise where.error(f"trajectory[{i}]", "step is not an object")
        action = step.get("action")
        if not isinstance(action, str):
            raise where.error(f"trajectory[{i}].action", "missing action")
        call = c.synth_call(traj_key, i, command_name(action), {"command": action})
        out.append(c.message("assistant", step.get("response") or step.get("thought") or "", tool_calls=[call]))
        out.append(c.message("tool", str(step.get("observation") or ""), tool_call_id=call["id"]))
    notes["built_from"] = "trajectory_steps"
    return out
