"""What near-dedup compares, per record kind: named text functions the stages take as `text_fn`.

A pipeline picks one by name (`text_function("task.patch")`), so what is deduplicated is a config
value rather than code. Token shingling makes layout irrelevant, so these only choose and join fields.
"""

from __future__ import annotations

from collections.abc import Callable

from tracemill.errors import ConfigError


def trajectory_text(record: dict) -> str:
    """Every message's content and tool-call arguments, in order, then the final patch."""
    parts = []
    for message in record.get("messages") or ():
        if message.get("content"):
            parts.append(str(message["content"]))
        for call in message.get("tool_calls") or ():
            parts.append(str((call.get("function") or {}).get("arguments", "")))
    if record.get("patch"):
        parts.append(record["patch"])
    return "\n".join(parts)


def task_patch(record: dict) -> str:
    return record["patch"]


def task_problem_statement(record: dict) -> str:
    return record["problem_statement"]


def trace_source(record: dict) -> str:
    return record["source"]


TEXT_FUNCTIONS: dict[str, Callable[[dict], str]] = {
    "trajectory.text": trajectory_text,
    "task.patch": task_patch,
    "task.problem_statement": task_problem_statement,
    "trace.source": trace_source,
}


def text_function(name: str) -> Callable[[dict], str]:
    """The text function registered as `name` (kind.what); ConfigError names the choices."""
    try:
        return TEXT_FUNCTIONS[name]
    except KeyError:
        raise ConfigError(f"unknown dedup text {name!r}; choose one of {', '.join(sorted(TEXT_FUNCTIONS))}") from None
