"""What near-dedup compares, per record kind: named text functions the stages take as `text_fn`.

A pipeline picks one by name (`text_function("task.patch")`), so what is deduplicated is a config
value rather than code. Token shingling makes layout irrelevant, so these only choose and join fields.
"""

from __future__ import annotations

from collections.abc import Callable

from tracemill.errors import ConfigError, RecordError
from tracemill.records import canonical_json


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


# Field accessors for `tracemill dedup` / `decontam` on arbitrary JSONL (picklable, shipped to workers).


class IdField:
    """A record's id from field `name`: strings as they are, integers as their decimal text."""

    def __init__(self, name: str = "id"):
        self.name = name

    def __call__(self, record: dict) -> str:
        value = record[self.name]
        return value if isinstance(value, str) else canonical_json(value)


class RequireId:
    """Stage function: dead-letter records whose id field is missing or not a string/integer."""

    def __init__(self, name: str = "id"):
        self.name = name

    def __call__(self, record: dict) -> dict:
        value = record.get(self.name)
        if not isinstance(value, (str, int)) or isinstance(value, bool):
            raise RecordError(f"record has no string or integer `{self.name}`", path=f"$.{self.name}",
                              reason="missing_id")
        return record


class FieldText:
    """The text to compare: a string field as is, any other JSON value canonically serialised."""

    def __init__(self, name: str, required: bool = True):
        self.name, self.required = name, required

    def __call__(self, record: dict) -> str | None:
        if self.name not in record:
            if not self.required:
                return None
            raise RecordError(f"record has no field {self.name!r}", path=f"$.{self.name}", reason="missing_field")
        value = record[self.name]
        return value if isinstance(value, str) else canonical_json(value)
