"""Tool definitions of the bash-first agent (CWM's set): bash, edit, create, submit. OpenAI `tools` format."""

from __future__ import annotations


def _fn(name: str, description: str, properties: dict, required: list[str]) -> dict:
    return {
        "type": "function",
        "function": {
            "name": name,
            "description": description,
            "parameters": {"type": "object", "properties": properties, "required": required},
        },
    }


TOOLS: list[dict] = [
    _fn("bash", "Run a bash command in the repository and return its output.",
        {"command": {"type": "string", "description": "The command to run."}}, ["command"]),
    _fn("edit", "Replace one exact occurrence of `old` with `new` in a file.",
        {"path": {"type": "string"}, "old": {"type": "string"}, "new": {"type": "string"}}, ["path", "old", "new"]),
    _fn("create", "Create (or overwrite) a file with the given content.",
        {"path": {"type": "string"}, "content": {"type": "string"}}, ["path", "content"]),
    _fn("submit", "Finish: the current diff of the repository is the final patch.", {}, []),
]

TOOL_NAMES = tuple(t["function"]["name"] for t in TOOLS)

SYSTEM_PROMPT = (
    "You are an autonomous software engineer working in a repository checked out at /repo. "
    "Use one tool call per step: bash to inspect and run things, edit or create to change files, "
    "submit when the issue is fixed. Your final patch is the repository's diff when you submit."
)
