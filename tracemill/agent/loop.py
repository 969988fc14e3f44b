"""The bash-first agent loop (CWM's): one tool call per step, every action run in the task's sandbox.

A rollout works on a private copy of the task's repository at `base_commit`, without the task's
`test_patch` (the hidden tests stay hidden). The copy's git directory lives next to it, outside the
sandbox, so nothing the agent does can corrupt the diff that becomes its final patch. `bash`, `edit`
and `create` all run under bubblewrap (the file tools as a small Python helper), so agent-chosen paths
and symlinks never touch the host. Observations are truncated to a character budget; the loop stops
on `submit` or at the first limit hit: turns, context tokens, wall time per rollout, or persistent
malformed tool calls. Infrastructure failures (the sandbox cannot start) raise InfraError: the caller
dead-letters the rollout instead of grading it.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from tracemill.agent.client import ContextLengthExceeded, PolicyClient, PolicyTimeout
from tracemill.agent.tools import SYSTEM_PROMPT, TOOL_NAMES, TOOLS
from tracemill.errors import InfraError
from tracemill.sandbox import ExecStatus, SandboxLimits, run_sandboxed
from tracemill.tokens import count_messages
from tracemill.verify.workspace import pristine_tree

# exit_status vocabulary of generated trajectories
EXIT_STATUSES = ("submitted", "turn_limit", "token_limit", "timeout", "format_error", "env_error")
REPO_ALIAS = "/repo"  # the path the system prompt promises: a symlink to the working copy in the sandbox

_GIT_ENV = {
    "GIT_CONFIG_GLOBAL": "/dev/null",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_AUTHOR_NAME": "tracemill",
    "GIT_AUTHOR_EMAIL": "agent@tracemill.invalid",
    "GIT_COMMITTER_NAME": "tracemill",
    "GIT_COMMITTER_EMAIL": "agent@tracemill.invalid",
    "GIT_AUTHOR_DATE": "2026-01-01T00:00:00+00:00",
    "GIT_COMMITTER_DATE": "2026-01-01T00:00:00+00:00",
}
# Never part of a patch: byproducts of running Python and pytest in the working copy.
_EXCLUDES = "__pycache__/\n*.pyc\n.pytest_cache/\n*.egg-info/\n"


@dataclass(frozen=True)
class AgentLimits:
    max_turns: int = 30  # assistant turns, malformed ones included
    max_tokens: int = 32_000  # conversation length (server-reported when available)
    step_timeout_s: float = 30.0  # one sandboxed action
    rollout_timeout_s: float = 600.0  # the whole rollout, model time included
    observation_chars: int = 8_000  # observation budget; head and tail are kept
    max_format_errors: int = 3  # consecutive malformed turns before the rollout ends as format_error
    memory_mb: int = 2048
    infra_retries: int = 1  # a sandbox that did not start is retried this often, then dead-lettered


def truncate(text: str, budget: int) -> str:
    """Keep the head and the tail (errors tend to be at the end) within `budget` characters."""
    if len(text) <= budget:
        return text
    marker = "\n[... {} characters omitted ...]\n"
    keep = max(budget - len(marker.format(len(text))), 0)
    head, tail = keep // 2, keep - keep // 2
    return text[:head] + marker.format(len(text) - head - tail) + (text[len(text) - tail:] if tail else "")


# The file tools, run inside the sandbox with the request on stdin. Paths are confined to the working
# copy after resolving symlinks, so a link planted by `bash` cannot redirect a write.
_FILE_TOOL = r"""
import json, os, sys
req = json.load(sys.stdin)
root = os.path.realpath(os.getcwd())
path = os.path.realpath(os.path.join(root, req["path"]))
rel = os.path.relpath(path, root)
def fail(msg):
    print(msg); sys.exit(1)
if rel == "." or rel.startswith(".." + os.sep) or rel == "..":
    fail(f"Error: {req['path']} is outside the repository")
if req["op"] == "create":
    existed = os.path.exists(path)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(req["content"])
    print(f"{'Overwrote' if existed else 'Created'} {rel} ({len(req['content'])} characters).")
    sys.exit(0)
if not os.path.isfile(path):
    fail(f"Error: {rel} does not exist or is not a file")
with open(path, encoding="utf-8", errors="surrogateescape") as fh:
    text = fh.read()
old, new = req["old"], req["new"]
if not old:
    fail("Error: `old` must not be empty; use create to write a whole file")
n = text.count(old)
if n == 0:
    fail(f"Error: the text to replace was not found in {rel}")
if n > 1:
    fail(f"Error: the text to replace occurs {n} times in {rel}; include more context to make it unique")
at = text.index(old)
text = text[:at] + new + text[at + len(old):]
with open(path, "w", encoding="utf-8", errors="surrogateescape") as fh:
    fh.write(text)
first = text.count("\n", 0, at) + 1
lines = text.splitlines()
lo, hi = max(first - 3, 0), min(first + new.count("\n") + 3, len(lines))
snippet = "\n".join(f"{i + 1:>5} {lines[i]}" for i in range(lo, hi))
print(f"Edited {rel}: replaced 1 occurrence. Lines {lo + 1}-{hi} now read:\n{snippet}")
"""


class Workspace:
    """A private working copy of repo@commit (no test_patch) and the sandboxed actions on it."""

    def __init__(self, root: Path, limits: AgentLimits):
        self.root = root
        self.tree = root / "repo"
        self.git_dir = root / "git"
        self.limits = limits
        self.sandbox_steps = 0
        self.sandbox_seconds = 0.0

    @classmethod
    def create(cls, repo_path: str, commit: str, limits: AgentLimits, parent: str | None = None) -> Workspace:
        root = Path(tempfile.mkdtemp(prefix="tracemill-rollout-", dir=parent))
        ws = cls(root, limits)
        try:
            shutil.copytree(pristine_tree(repo_path, commit), ws.tree, symlinks=True)
            ws._git("init", "-q", "--template=")
            (ws.git_dir / "info").mkdir(exist_ok=True)
            (ws.git_dir / "info" / "exclude").write_text(_EXCLUDES)
            ws._git("add", "-A")
            ws._git("commit", "-q", "--allow-empty", "--no-verify", "-m", "base")
        except BaseException:
            ws.close()
            raise
        return ws

    def close(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)

    def _git(self, *args: str) -> str:
        res = subprocess.run(["git", f"--git-dir={self.git_dir}", f"--work-tree={self.tree}", *args],
                             cwd=self.tree, env={**os.environ, **_GIT_ENV}, capture_output=True, check=False)
        if res.returncode != 0:
            raise InfraError(f"git {args[0]} failed in the working copy: {res.stderr.decode()[:300]}",
                             reason="workspace_error")
        return res.stdout.decode("utf-8", errors="replace")

    def diff(self) -> str:
        """The working copy's changes against base_commit, new files included, as a git patch."""
        self._git("add", "-A")
        return self._git("-c", "core.quotepath=off", "diff", "--cached", "--no-color", "--no-ext-diff")

    def _run(self, argv: list[str], timeout_s: float, stdin: bytes | None = None):
        limits = SandboxLimits(timeout_s=max(timeout_s, 0.1), memory_mb=self.limits.memory_mb)
        for attempt in range(self.limits.infra_retries + 1):
            res = run_sandboxed(argv, workdir=self.tree, limits=limits, stdin=stdin,
                                links=((REPO_ALIAS, str(self.tree)),))
            self.sandbox_steps += 1
            self.sandbox_seconds += res.duration_s
            if res.status != ExecStatus.INFRA_ERROR:
                return res
        raise InfraError(f"sandbox could not start: {res.detail}", reason="sandbox_unavailable")

    def repo_relative(self, path: str) -> str:
        """Agent paths: relative to the repository, or absolute under /repo or the working copy."""
        for prefix in (str(self.tree), REPO_ALIAS):
            if path == prefix:
                return "."
            if path.startswith(prefix + "/"):
                return path[len(prefix) + 1:]
        return path

    def bash(self, command: str, timeout_s: float) -> tuple[str, bool]:
        """(observation, ok): merged stdout+stderr, exit code or the limit that killed the command."""
        res = self._run(["bash", "-c", "exec 2>&1\n" + command], timeout_s)
        text = res.stdout + res.stderr
        if res.status == ExecStatus.TIMEOUT:
            return text + f"\n[command timed out after {timeout_s:g}s and was killed]", False
        if res.status == ExecStatus.MEMORY:
            return text + f"\n[command killed: memory limit of {self.limits.memory_mb} MB]", False
        if res.returncode:
            return text + f"\n[exit code {res.returncode}]", False
        return text, True

    def file_tool(self, request: dict, timeout_s: float) -> tuple[str, bool]:
        request = {**request, "path": self.repo_relative(request["path"])}
        res = self._run([sys.executable, "-I", "-c", _FILE_TOOL], timeout_s, stdin=json.dumps(request).encode())
        if res.status == ExecStatus.OK:
            return res.stdout.strip(), True
        if res.status == ExecStatus.FAILED and res.stdout.startswith("Error:"):
            return res.stdout.strip(), False
        return f"Error: the {request['op']} tool failed ({res.status.value}): {(res.stderr or res.stdout)[-500:]}", \
            False


class FormatError(Exception):
    """A tool call the loop cannot run; its message is the observation the agent sees."""


_REQUIRED = {t["function"]["name"]: t["function"]["parameters"]["required"] for t in TOOLS}


def parse_call(call: dict) -> tuple[str, dict]:
    """(tool name, arguments) of one tool call, or FormatError naming what is wrong."""
    name = call["function"]["name"]
    if name not in TOOL_NAMES:
        raise FormatError(f"Error: unknown tool {name!r}; the tools are {', '.join(TOOL_NAMES)}.")
    raw = call["function"]["arguments"] or "{}"
    try:
        args = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise FormatError(f"Error: the arguments of {name} are not valid JSON ({exc.msg} at column {exc.colno}).")
    if not isinstance(args, dict):
        raise FormatError(f"Error: the arguments of {name} must be a JSON object.")
    for key in _REQUIRED[name]:
        if not isinstance(args.get(key), str):
            raise FormatError(f"Error: {name} needs a string argument {key!r}.")
    return name, args


@dataclass
class Episode:
    """What one rollout did: the conversation, why it stopped and the working copy's diff."""

    messages: list[dict]
    exit_status: str
    diff: str
    policy_versions: list[str | None] = field(default_factory=list)
    turns: int = 0
    format_errors: int = 0
    tool_errors: int = 0
    context_tokens: int = 0
    completion_tokens: int = 0
    model_attempts: int = 0
    model_seconds: float = 0.0
    sandbox_steps: int = 0
    sandbox_seconds: float = 0.0
    detail: str | None = None

    @property
    def patch(self) -> str | None:
        """The submitted patch; a rollout that never submitted has none."""
        return self.diff if self.exit_status == "submitted" else None


def task_prompt(task: dict) -> str:
    return f"Fix this issue in {task['repo']}:\n\n{task['problem_statement']}"


@dataclass(frozen=True)
class Sampling:
    temperature: float | None = None
    top_p: float | None = None
    seed: int | None = None


async def run_episode(task: dict, client: PolicyClient, workspace: Workspace, limits: AgentLimits,
                      sampling: Sampling = Sampling(), rollout_id: str | None = None,
                      sandbox_slots: asyncio.Semaphore | None = None) -> Episode:
    """Drive one rollout to its end; raises InfraError (sandbox) or PolicyUnavailable (server)."""
    messages: list[dict] = [{"role": "system", "content": SYSTEM_PROMPT},
                            {"role": "user", "content": task_prompt(task)}]
    ep = Episode(messages=messages, exit_status="turn_limit", diff="")
    deadline = time.monotonic() + limits.rollout_timeout_s
    consecutive_errors = 0
    reported, reported_at = 0, len(messages)  # server-counted tokens and the message count they cover

    async def sandboxed(fn, *args):
        if sandbox_slots is None:
            return await asyncio.to_thread(fn, *args)
        async with sandbox_slots:
            return await asyncio.to_thread(fn, *args)

    def stop(status: str, detail: str | None = None) -> None:
        ep.exit_status, ep.detail = status, detail

    while True:
        used = reported + count_messages(messages[reported_at:]) if reported else count_messages(messages)
        ep.context_tokens = used
        remaining = deadline - time.monotonic()
        if ep.turns >= limits.max_turns:
            stop("turn_limit", f"{ep.turns} turns")
            break
        if used >= limits.max_tokens:
            stop("token_limit", f"{used} tokens")
            break
        if remaining <= 0:
            stop("timeout", f"rollout wall time {limits.rollout_timeout_s:g}s")
            break
        try:
            done = await client.complete(messages, TOOLS, temperature=sampling.temperature, top_p=sampling.top_p,
                                         seed=sampling.seed, timeout_s=remaining, rollout=rollout_id)
        except PolicyTimeout as exc:
            stop("timeout", str(exc))
            break
        except ContextLengthExceeded as exc:
            stop("token_limit", str(exc))
            break
        ep.turns += 1
        ep.model_attempts += done.attempts
        ep.model_seconds += done.seconds
        ep.completion_tokens += done.completion_tokens or 0
        ep.policy_versions.append(done.policy_version)
        message = {**done.message, "policy_version": done.policy_version}
        calls = message.get("tool_calls") or []
        for i, call in enumerate(calls):
            call["id"] = call["id"] or f"call_{ep.turns}_{i}"
        messages.append(message)
        if done.prompt_tokens is not None and done.completion_tokens is not None:
            reported, reported_at = done.prompt_tokens + done.completion_tokens, len(messages)

        observations: list[dict] = []
        try:
            if not calls:
                hint = " (the reply was cut off at the token limit)" if done.finish_reason == "length" else ""
                raise FormatError(f"Error: no tool call in your reply{hint}. Call exactly one tool: "
                                  f"{', '.join(TOOL_NAMES)}.")
            if len(calls) > 1:
                raise FormatError(f"Error: one tool call per step; none of your {len(calls)} calls was run.")
            name, args = parse_call(calls[0])
        except FormatError as exc:
            ep.format_errors += 1
            consecutive_errors += 1
            if calls:
                observations = [{"role": "tool", "tool_call_id": c["id"], "name": c["function"]["name"],
                                 "content": str(exc)} for c in calls]
            else:
                observations = [{"role": "user", "content": str(exc)}]
            messages.extend(observations)
            if consecutive_errors >= limits.max_format_errors:
                stop("format_error", f"{consecutive_errors} malformed turns in a row")
                break
            continue
        consecutive_errors = 0
        if name == "submit":
            stop("submitted")
            break
        step_timeout = max(min(limits.step_timeout_s, deadline - time.monotonic()), 0.1)
        if name == "bash":
            text, ok = await sandboxed(workspace.bash, args["command"], step_timeout)
        elif name == "edit":
            text, ok = await sandboxed(workspace.file_tool, {"op": "edit", "path": args["path"], "old": args["old"],
                                                             "new": args["new"]}, step_timeout)
        else:
            text, ok = await sandboxed(workspace.file_tool, {"op": "create", "path": args["path"],
                                                             "content": args["content"]}, step_timeout)
        ep.tool_errors += not ok
        messages.append({"role": "tool", "tool_call_id": calls[0]["id"], "name": name,
                         "content": truncate(text, limits.observation_chars)})

    ep.sandbox_steps, ep.sandbox_seconds = workspace.sandbox_steps, workspace.sandbox_seconds
    ep.diff = await asyncio.to_thread(workspace.diff)
    return ep
