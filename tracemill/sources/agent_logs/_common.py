"""Helpers every agent-log adapter shares: OpenAI-style messages, synthesized tool calls, ids.

The canonical conversation is OpenAI chat: assistant `tool_calls` with JSON-string `arguments`,
tool results as role `tool` with `tool_call_id`. Formats whose actions are plain text get a
synthesized call with a deterministic id; the original text stays in the assistant's `content`.
"""

from __future__ import annotations

import json
from typing import Any

from tracemill.errors import RecordError
from tracemill.records import stable_hash

MESSAGE_KEYS = ("role", "content", "tool_calls", "tool_call_id", "name", "reasoning_content", "policy_version")
ROLES = frozenset({"system", "user", "assistant", "tool"})
COMMAND_PARAMETERS = {"type": "object", "properties": {"command": {"type": "string"}}, "required": ["command"]}


class Where:
    """Names the file, line and field of an input, for errors a user can act on."""

    def __init__(self, source: str | None, line: int | None):
        self.source, self.line = source or "?", line

    def error(self, field: str, message: str, reason: str = "invalid_agent_log") -> RecordError:
        at = f"{self.source}:{self.line}" if self.line else self.source
        return RecordError(f"{at}: {field}: {message}", path=field, reason=reason)


def text_of(content: Any, where: Where, field: str, notes: dict) -> str | None:
    """Message content as a string: strings as-is, text parts joined, non-text parts counted."""
    if content is None or isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = []
        for i, part in enumerate(content):
            if isinstance(part, str):
                texts.append(part)
            elif isinstance(part, dict) and part.get("type") in ("text", "input_text", "output_text"):
                texts.append(str(part.get("text") or ""))
            elif isinstance(part, dict):
                notes["non_text_parts"] = notes.get("non_text_parts", 0) + 1
            else:
                raise where.error(f"{field}[{i}]", f"content part is {type(part).__name__}, not text")
        notes["flattened_content_parts"] = notes.get("flattened_content_parts", 0) + 1
        return "".join(texts)
    raise where.error(field, f"content is {type(content).__name__}, expected string or list of parts")


def arguments_json(arguments: Any, where: Where, field: str) -> str:
    """Tool-call arguments as the JSON string OpenAI sends; dicts (Anthropic-style) are encoded."""
    if isinstance(arguments, str):
        return arguments
    if isinstance(arguments, dict | list) or arguments is None:
        return json.dumps(arguments if arguments is not None else {}, ensure_ascii=False)
    raise where.error(field, f"arguments is {type(arguments).__name__}, expected JSON string or object")


def tool_calls_of(calls: Any, where: Where, field: str) -> list[dict] | None:
    """Normalize `tool_calls` to `{id, type: function, function: {name, arguments}}` (drops `index`)."""
    if calls is None:
        return None
    if not isinstance(calls, list):
        raise where.error(field, "tool_calls is not a list")
    out = []
    for i, call in enumerate(calls):
        f = f"{field}[{i}]"
        if not isinstance(call, dict):
            raise where.error(f, "tool call is not an object")
        fn = call.get("function") or {}
        name = fn.get("name") if isinstance(fn, dict) else None
        if not isinstance(name, str) or not name:
            raise where.error(f"{f}.function.name", "missing tool name")
        if not isinstance(call.get("id"), str) or not call["id"]:
            raise where.error(f"{f}.id", "missing tool call id")
        out.append({"id": call["id"], "type": "function",
                    "function": {"name": name, "arguments": arguments_json(fn.get("arguments"), where,
                                                                           f"{f}.function.arguments")}})
    return out or None


def message(role: str, content: str | None, **extra: Any) -> dict:
    """A canonical message: role and content always, other keys only when set."""
    msg = {"role": role, "content": content}
    msg.update({k: v for k, v in extra.items() if v is not None and k in MESSAGE_KEYS})
    return msg


def synth_call_id(traj_key: str, turn: int) -> str:
    """Deterministic id for a tool call the log did not carry: same input, same id."""
    return "call_" + stable_hash("synth", traj_key, turn)[:24]


def synth_call(traj_key: str, turn: int, name: str, arguments: dict) -> dict:
    return {"id": synth_call_id(traj_key, turn), "type": "function",
            "function": {"name": name, "arguments": json.dumps(arguments, ensure_ascii=False)}}


def tools_for(messages: list[dict], declared: list[dict] | None = None) -> list[dict]:
    """Declared tool definitions, plus a minimal one for each called tool the log never declared."""
    out, seen = [], set()
    for tool in declared or []:
        fn = tool.get("function") if isinstance(tool, dict) else None
        if isinstance(fn, dict) and isinstance(fn.get("name"), str):
            entry = {"name": fn["name"]}
            if fn.get("description") is not None:
                entry["description"] = str(fn["description"])
            if isinstance(fn.get("parameters"), dict):
                entry["parameters"] = fn["parameters"]
            out.append({"type": "function", "function": entry})
            seen.add(fn["name"])
    for msg in messages:
        for call in msg.get("tool_calls") or []:
            name = call["function"]["name"]
            if name not in seen:
                seen.add(name)
                params = COMMAND_PARAMETERS if _is_command_call(call) else {"type": "object"}
                out.append({"type": "function", "function": {"name": name, "parameters": params}})
    return out


def _is_command_call(call: dict) -> bool:
    try:
        args = json.loads(call["function"]["arguments"])
    except (ValueError, TypeError):
        return False
    return isinstance(args, dict) and set(args) == {"command"}


def traj_id_for(agent: str, instance_id: str, raw: Any) -> str:
    """Content-addressed id: the same log imported twice gets the same id."""
    return f"{agent}:{instance_id}:{stable_hash(raw)[:16]}"


def reward_for(resolved: bool | None) -> float | None:
    """CWM's rule: +1 resolved, -1 not resolved, unknown stays unknown."""
    return None if resolved is None else (1.0 if resolved else -1.0)


def trajectory(*, traj_id: str, instance_id: str, agent: str, model: str | None, messages: list[dict],
               tools: list[dict], patch: str | None, exit_status: str | None, source_format: str,
               resolved: bool | None = None, metadata: dict | None = None,
               policy_versions: tuple[str | None, str | None] = (None, None)) -> dict:
    return {
        "traj_id": traj_id,
        "instance_id": instance_id,
        "agent": agent,
        "model": model or "unknown",
        "messages": messages,
        "tools": tools,
        "patch": patch,
        "exit_status": exit_status,
        "policy_version_begin": policy_versions[0],
        "policy_version_end": policy_versions[1],
        "source_format": source_format,
        "resolved": resolved,
        "reward": reward_for(resolved),
        "sample_index": None,
        "metadata": metadata or {},
    }


def note_dropped_keys(notes: dict, raw_msg: dict, carried: tuple[str, ...] = MESSAGE_KEYS) -> None:
    """Record which per-message fields of the log were not carried into the canonical message."""
    extra = sorted(k for k in raw_msg if k not in carried)
    if extra:
        notes.setdefault("fields_not_carried", set()).update(extra)


def finish_notes(notes: dict) -> dict:
    return {k: (sorted(v) if isinstance(v, set) else v) for k, v in notes.items()}


def stem_instance_id(source: str | None, suffixes: tuple[str, ...]) -> str | None:
    """`<instance_id>.traj` / `<instance_id>.traj.json`: the id agents put in trajectory file names."""
    if not source:
        return None
    name = source.replace("\\", "/").rsplit("/", 1)[-1]
    for suffix in suffixes:
        if name.endswith(suffix):
            return name[: -len(suffix)] or None
    return name.rsplit(".", 1)[0] or None
