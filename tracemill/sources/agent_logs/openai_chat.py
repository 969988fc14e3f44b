"""OpenAI-chat rows (JSONL) <-> canonical trajectories.

Rows as nvidia/SWE-Zero, nebius/SWE-rebench-openhands and most SFT sets publish them: the chat under
`messages` (or `trajectory`), optional `tools`, `instance_id`, `trajectory_id`, `model_patch` (or
`patch`), `resolved`, `exit_status`, `model`. Messages are already canonical; this adapter checks
them field by field so a broken row names its line and field. `to_row` is the inverse (the SFT
export): importing its output gives back the same conversation, tools and patch.
"""

from __future__ import annotations

import json
from typing import Any

from tracemill.sources.agent_logs import _common as c

NAME = "openai-chat"
_CONVERSATION_KEYS = ("messages", "trajectory")
_PATCH_KEYS = ("model_patch", "patch", "submission")
# Fields carried into the trajectory; the rest of a row's scalars go to metadata.row_fields.
_KNOWN = set(_CONVERSATION_KEYS) | set(_PATCH_KEYS) | {"tools", "instance_id", "trajectory_id", "traj_id",
                                                       "resolved", "exit_status", "model", "agent", "metadata",
                                                       "source_format", "policy_version_begin", "policy_version_end",
                                                       "sample_index"}


def _is_message_list(v: Any) -> bool:
    return isinstance(v, list) and bool(v) and all(isinstance(m, dict) and "role" in m for m in v)


def sniff(obj: Any) -> bool:
    if isinstance(obj, dict):
        return any(_is_message_list(obj.get(k)) for k in _CONVERSATION_KEYS) and "history" not in obj \
            and "trajectory_format" not in obj and "info" not in obj
    return _is_message_list(obj) and any("tool_calls" in m or m.get("role") == "tool" for m in obj)


def _resolved(value: Any, where: c.Where) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    if value in (0, 1):
        return bool(value)
    raise where.error("resolved", f"expected true/false/null, got {value!r}")


def to_trajectory(obj: Any, where: c.Where) -> dict:
    if not sniff(obj):
        raise where.error("messages", "no list of chat messages under `messages` or `trajectory`")
    row = obj if isinstance(obj, dict) else {"messages": obj}
    key = next(k for k in _CONVERSATION_KEYS if _is_message_list(row.get(k)))
    notes: dict = {}
    messages = []
    for i, raw in enumerate(row[key]):
        f = f"{key}[{i}]"
        role = raw.get("role")
        if role not in c.ROLES:
            raise where.error(f"{f}.role", f"unexpected role {role!r}")
        c.note_dropped_keys(notes, raw)
        content = c.text_of(raw.get("content"), where, f"{f}.content", notes)
        calls = c.tool_calls_of(raw.get("tool_calls"), where, f"{f}.tool_calls")
        if role == "tool" and not raw.get("tool_call_id"):
            raise where.error(f"{f}.tool_call_id", "tool message without tool_call_id")
        messages.append(c.message(role, content, tool_calls=calls, tool_call_id=raw.get("tool_call_id"),
                                  name=raw.get("name"), reasoning_content=raw.get("reasoning_content"),
                                  policy_version=raw.get("policy_version")))
    tools = row.get("tools")
    if isinstance(tools, str):  # Parquet/HF exports often store tools as a JSON string
        try:
            tools = json.loads(tools)
        except json.JSONDecodeError as exc:
            raise where.error("tools", f"not valid JSON: {exc.msg}") from exc
    if tools is not None and not isinstance(tools, list):
        raise where.error("tools", "not a list")
    instance_id = row.get("instance_id") or c.stem_instance_id(where.source, (".jsonl", ".json"))
    if not instance_id:
        raise where.error("instance_id", "missing")
    patch = next((row[k] for k in _PATCH_KEYS if isinstance(row.get(k), str)), None)
    extra = {k: v for k, v in row.items() if k not in _KNOWN and (v is None or isinstance(v, str | int | float | bool))}
    if extra:
        notes["row_fields"] = extra
    meta = row.get("metadata") if isinstance(row.get("metadata"), dict) else {}
    traj_id = row.get("trajectory_id") or row.get("traj_id") or c.traj_id_for(NAME, str(instance_id), obj)
    versions = tuple(v if isinstance(v, str) else None
                     for v in (row.get("policy_version_begin"), row.get("policy_version_end")))
    traj = c.trajectory(
        traj_id=str(traj_id), instance_id=str(instance_id), agent=str(row.get("agent") or NAME),
        model=row.get("model") if isinstance(row.get("model"), str) else None, messages=messages,
        tools=c.tools_for(messages, tools), patch=patch, exit_status=row.get("exit_status"),
        source_format=row.get("source_format") or meta.get("source_format") or NAME,
        resolved=_resolved(row.get("resolved"), where), policy_versions=versions,
        metadata={**{k: v for k, v in meta.items() if k != "source_format"}, **c.finish_notes(notes)})
    # Canonical rows (tracemill's own output, generated rollouts) keep their sample index.
    if isinstance(row.get("sample_index"), int):
        traj["sample_index"] = row["sample_index"]
    return traj


def to_messages(traj: dict) -> list[dict]:
    """The conversation as OpenAI chat messages (what an SFT trainer's chat template consumes)."""
    keep = ("role", "content", "tool_calls", "tool_call_id", "name", "reasoning_content")
    return [{k: m[k] for k in keep if k in m} for m in traj["messages"]]


def to_row(traj: dict) -> dict:
    """An OpenAI-chat JSONL row for a trajectory; `to_trajectory(to_row(t))` keeps the conversation."""
    return {
        "trajectory_id": traj["traj_id"],
        "instance_id": traj["instance_id"],
        "agent": traj["agent"],
        "model": traj["model"],
        "messages": to_messages(traj),
        "tools": traj["tools"],
        "model_patch": traj["patch"],
        "exit_status": traj["exit_status"],
        "resolved": traj.get("resolved"),
        "metadata": {**(traj.get("metadata") or {}), "source_format": traj.get("source_format")},
    }
