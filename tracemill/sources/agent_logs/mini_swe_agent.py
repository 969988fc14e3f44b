"""mini-swe-agent trajectories -> canonical trajectories.

Two layouts: the older plain list of `{role, content}` messages (`*.traj.json`), and the object
`{trajectory_format: "mini-swe-agent-1"|"mini-swe-agent-1.1", info: {exit_status, submission, ...},
messages: [...]}`. Text-mode models answer with exactly one fenced ```bash (v1) or
```mswea_bash_command (v2) block: that block becomes a synthesized `bash` call and the next user
message its `tool` result. A reply with zero or several blocks is a format error: it keeps no call
and the harness's complaint stays a user message. Tool-calling models (v2 default) already write
OpenAI `tool_calls` and `tool` messages. v2's final `role: exit` message is not a chat role; its
content and `extra` go to metadata. In the list layout, the text after the submit command is the
submission (the patch).
"""

from __future__ import annotations

import re
from typing import Any

from tracemill.sources.agent_logs import _common as c

NAME = "mini-swe-agent"
ACTION = re.compile(r"```(?:bash|mswea_bash_command)\s*\n(.*?)\n```", re.DOTALL)
SUBMIT_MARKERS = ("COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT", "MINI_SWE_AGENT_FINAL_OUTPUT")


def sniff(obj: Any) -> bool:
    if isinstance(obj, dict):
        return str(obj.get("trajectory_format", "")).startswith("mini-swe-agent") and "messages" in obj
    return (isinstance(obj, list) and bool(obj) and all(isinstance(m, dict) and "role" in m for m in obj)
            and obj[0].get("role") == "system" and not any("tool_calls" in m for m in obj))


def to_trajectory(obj: Any, where: c.Where) -> dict:
    if not sniff(obj):
        raise where.error("$", "not a mini-swe-agent trajectory (a message list, or trajectory_format + messages)")
    notes: dict = {}
    if isinstance(obj, list):
        layout, raw_messages, info = "mini-swe-agent-list", obj, {}
    else:
        layout, raw_messages, info = str(obj["trajectory_format"]), obj["messages"], obj.get("info") or {}
        if not isinstance(raw_messages, list):
            raise where.error("messages", "not a list")
        if not isinstance(info, dict):
            raise where.error("info", "not an object")
    explicit_id = obj.get("instance_id") if isinstance(obj, dict) else None
    instance_id = explicit_id or info.get("instance_id") or c.stem_instance_id(where.source, (".traj.json", ".json"))
    if not instance_id:
        raise where.error("instance_id", "no instance id in the log or its file name")
    traj_key = c.traj_id_for(NAME, str(instance_id), obj)
    messages, submitted, submission = _messages(raw_messages, traj_key, where, notes)
    if isinstance(obj, dict):
        # Dataset rows (e.g. SWE-ZERO-12M) put exit_status / model_patch next to `messages`.
        patch = info.get("submission", obj.get("model_patch"))
        exit_status = info.get("exit_status", obj.get("exit_status"))
        config = info.get("config") if isinstance(info.get("config"), dict) else {}
        model = (config.get("model") or {}).get("model_name") if isinstance(config.get("model"), dict) else None
        notes["mini_version"] = info.get("mini_version")
        notes["model_stats"] = info.get("model_stats")
    else:
        patch = submission if submitted else None
        exit_status = "Submitted" if submitted else None
        model = None
    return c.trajectory(
        traj_id=traj_key, instance_id=str(instance_id), agent=NAME, model=model or obj_model(obj),
        messages=messages, tools=c.tools_for(messages), patch=patch if isinstance(patch, str) else None,
        exit_status=exit_status, source_format=layout, metadata=c.finish_notes(notes))


def obj_model(obj: Any) -> str | None:
    return obj.get("model") if isinstance(obj, dict) and isinstance(obj.get("model"), str) else None


def _messages(raw_messages: list, traj_key: str, where: c.Where, notes: dict):
    out: list[dict] = []
    pending: list[str] = []
    submitted, submission = False, None
    for i, raw in enumerate(raw_messages):
        f = f"messages[{i}]"
        if not isinstance(raw, dict):
            raise where.error(f, "message is not an object")
        role = raw.get("role")
        content = c.text_of(raw.get("content"), where, f"{f}.content", notes)
        c.note_dropped_keys(notes, raw)
        if role == "assistant":
            calls = c.tool_calls_of(raw.get("tool_calls"), where, f"{f}.tool_calls")
            if not calls:
                actions = ACTION.findall(content or "")
                if len(actions) == 1:
                    calls = [c.synth_call(traj_key, i, "bash", {"command": actions[0].strip()})]
                    notes["synthesized_tool_calls"] = notes.get("synthesized_tool_calls", 0) + 1
                else:
                    notes["format_errors"] = notes.get("format_errors", 0) + 1
            out.append(c.message("assistant", content, tool_calls=calls,
                                 reasoning_content=raw.get("reasoning_content")))
            pending = [call["id"] for call in calls or []]
            submitted = any(m in _command(call) for call in calls or [] for m in SUBMIT_MARKERS)
        elif role == "tool":
            call_id = raw.get("tool_call_id") or (pending[0] if pending else None)
            if not call_id:
                raise where.error(f"{f}.tool_call_id", "tool message answers no tool call")
            out.append(c.message("tool", content, tool_call_id=call_id))
            pending = [p for p in pending if p != call_id]
        elif role == "user" and pending:
            out.append(c.message("tool", content, tool_call_id=pending.pop(0)))
            if submitted:
                submission = content or ""
        elif role in ("system", "user"):
            out.append(c.message(role, content))
        elif role == "exit":
            notes["exit_message"] = {"content": content, "extra": raw.get("extra")}
        else:
            raise where.error(f"{f}.role", f"unexpected role {role!r}")
    return out, submitted and submission is not None, submission


def _command(call: dict) -> str:
    return call["function"]["arguments"]
