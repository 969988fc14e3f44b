"""Trajectory filters: each measures one signal, compares it with a limit and says why it drops a rollout.

Every filter is `(trajectory, limits) -> Rejection | None` with a stable snake_case reason and the
measured `signal` (and the `limit` it was compared with), so "what would a limit of 40 turns have
dropped?" is a query over stored rejections, not a re-run. A limit of `None` disables its filter.
`apply_filters` runs the secret scrubber first (scrubbing rewrites, it does not drop, unless the
policy says `drop`), then the filters cheapest first, and returns the first rejection.

Order and reasons: too_many_turns, too_many_tokens, empty_patch, patch_touches_tests,
repeated_action_loop, high_tool_error_rate, leaked_secret, stale_policy.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from tracemill.errors import ConfigError
from tracemill.records import Rejection
from tracemill.tokens import count_messages, count_text
from tracemill.verify.patches import is_test_path, touched_files

SECRET_POLICIES = ("scrub", "drop", "off")

# Credential shapes with a vendor prefix, so ordinary hex digests and base64 blobs do not match.
SECRET_PATTERNS: dict[str, re.Pattern] = {
    "anthropic_api_key": re.compile(r"\bsk-ant-[A-Za-z0-9_\-]{20,}"),
    "openai_api_key": re.compile(r"\bsk-(?!ant-)(?:proj-|svcacct-|admin-)?[A-Za-z0-9_\-]{20,}"),
    "github_token": re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,})"),
    "aws_access_key_id": re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
    "huggingface_token": re.compile(r"\bhf_[A-Za-z0-9]{30,}"),
    "slack_token": re.compile(r"\bxox[abposr]-[A-Za-z0-9\-]{10,}"),
    "google_api_key": re.compile(r"\bAIza[0-9A-Za-z_\-]{35}"),
    "private_key": re.compile(r"-----BEGIN (?:RSA |EC |DSA |OPENSSH |PGP )?PRIVATE KEY(?: BLOCK)?-----"
                              r"[\s\S]*?-----END (?:RSA |EC |DSA |OPENSSH |PGP )?PRIVATE KEY(?: BLOCK)?-----"),
}
# An observation counts as a tool error when the environment says so in one of the forms agents print.
TOOL_ERROR = re.compile(
    r"<returncode>\s*[1-9]\d*\s*</returncode>"  # mini-swe-agent
    r"|exit code [1-9]\d*\b"  # OpenHands "[Command finished with exit code 1]"
    r"|^Traceback \(most recent call last\):"  # a Python crash
    r"|: command not found$|^bash: .*: No such file or directory$"
    r"|^ERROR: |^Error: ",
    re.MULTILINE,
)
_TRAILING_INT = re.compile(r"(\d+)(?!.*\d)")


@dataclass(frozen=True)
class TrajectoryLimits:
    """Limits of the trajectory filters; `None` turns a filter off."""

    max_turns: int | None = 200  # assistant messages
    max_tokens: int | None = 128_000  # approximate tokens of the whole conversation
    require_patch: bool = True  # an empty or missing final patch is dropped
    allow_test_file_edits: bool = False  # a patch touching test code could game the hidden tests
    max_repeated_actions: int | None = 5  # longest run of identical consecutive tool calls
    max_tool_error_rate: float | None = 0.6  # failing observations / observations
    min_observations_for_error_rate: int = 5  # below this the rate is noise
    secrets: str = "scrub"  # scrub | drop | off
    max_policy_staleness: int | None = None  # policy_version_end - policy_version_begin (RL)
    extra_secret_patterns: dict[str, str] = field(default_factory=dict)

    def __post_init__(self):
        if self.secrets not in SECRET_POLICIES:
            raise ConfigError(f"secrets must be one of {', '.join(SECRET_POLICIES)}, got {self.secrets!r}")
        if self.max_tool_error_rate is not None and not 0 <= self.max_tool_error_rate <= 1:
            raise ConfigError("max_tool_error_rate must be in [0, 1]")
        for name, pattern in self.extra_secret_patterns.items():
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ConfigError(f"extra_secret_patterns[{name}]: {exc}") from exc


def _assistant_turns(traj: dict) -> int:
    return sum(1 for m in traj["messages"] if m["role"] == "assistant")


def max_turns(traj: dict, limits: TrajectoryLimits) -> Rejection | None:
    if limits.max_turns is None:
        return None
    turns = _assistant_turns(traj)
    return Rejection("too_many_turns", signal=turns, limit=limits.max_turns) if turns > limits.max_turns else None


def max_tokens(traj: dict, limits: TrajectoryLimits) -> Rejection | None:
    if limits.max_tokens is None:
        return None
    tokens = count_messages(traj["messages"]) + count_text(traj.get("patch"))
    return Rejection("too_many_tokens", signal=tokens, limit=limits.max_tokens) if tokens > limits.max_tokens else None


def empty_patch(traj: dict, limits: TrajectoryLimits) -> Rejection | None:
    if not limits.require_patch:
        return None
    patch = traj.get("patch")
    if patch is None or not patch.strip():
        return Rejection("empty_patch", signal=0, limit=1, detail="no patch" if patch is None else "blank patch")
    return None


def patch_touches_tests(traj: dict, limits: TrajectoryLimits) -> Rejection | None:
    patch = traj.get("patch")
    if limits.allow_test_file_edits or not patch or not patch.strip():
        return None
    tests = [p for p in touched_files(patch) if is_test_path(p)]
    if tests:
        return Rejection("patch_touches_tests", signal=len(tests), limit=0, detail=", ".join(tests[:10]))
    return None


def _action_key(call: dict) -> str:
    args = call["function"]["arguments"]
    try:  # the same call with reordered or re-spaced JSON is the same action
        args = json.dumps(json.loads(args), sort_keys=True)
    except (ValueError, TypeError):
        args = " ".join(args.split())
    return f"{call['function']['name']}\x00{args}"


def longest_repeat(traj: dict) -> int:
    """Longest run of identical consecutive tool calls (an agent stuck re-running one command)."""
    best = run = 0
    last = None
    for m in traj["messages"]:
        for call in m.get("tool_calls") or []:
            key = _action_key(call)
            run = run + 1 if key == last else 1
            last = key
            best = max(best, run)
    return best


def repeated_actions(traj: dict, limits: TrajectoryLimits) -> Rejection | None:
    if limits.max_repeated_actions is None:
        return None
    repeat = longest_repeat(traj)
    if repeat > limits.max_repeated_actions:
        return Rejection("repeated_action_loop", signal=repeat, limit=limits.max_repeated_actions)
    return None


def tool_error_rate(traj: dict) -> tuple[int, int]:
    """(failing observations, observations) over the conversation's tool results."""
    observations = [m.get("content") or "" for m in traj["messages"] if m["role"] == "tool"]
    return sum(1 for o in observations if TOOL_ERROR.search(o)), len(observations)


def tool_errors(traj: dict, limits: TrajectoryLimits) -> Rejection | None:
    if limits.max_tool_error_rate is None:
        return None
    errors, total = tool_error_rate(traj)
    if total < limits.min_observations_for_error_rate:
        return None
    rate = errors / total
    if rate > limits.max_tool_error_rate:
        return Rejection("high_tool_error_rate", signal=round(rate, 6), limit=limits.max_tool_error_rate,
                         detail=f"{errors} of {total} observations failed")
    return None


def _patterns(limits: TrajectoryLimits) -> dict[str, re.Pattern]:
    extra = {k: re.compile(v) for k, v in limits.extra_secret_patterns.items()}
    return {**SECRET_PATTERNS, **extra}


def find_secrets(text: str | None, limits: TrajectoryLimits = TrajectoryLimits()) -> list[str]:
    """Kinds of credential found in `text`, one entry per match."""
    if not text:
        return []
    return [kind for kind, pattern in _patterns(limits).items() for _ in pattern.finditer(text)]


def _texts(traj: dict):
    if traj.get("metadata"):
        yield json.dumps(traj["metadata"], ensure_ascii=False)
    for m in traj["messages"]:
        yield m.get("content")
        yield m.get("reasoning_content")
        for call in m.get("tool_calls") or []:
            yield call["function"]["arguments"]
    yield traj.get("patch")


def count_secrets(traj: dict, limits: TrajectoryLimits = TrajectoryLimits()) -> int:
    return sum(len(find_secrets(t, limits)) for t in _texts(traj))


def scrub_secrets(traj: dict, limits: TrajectoryLimits = TrajectoryLimits()) -> tuple[dict, int]:
    """A copy with every credential replaced by `[REDACTED:<kind>]`, and how many were replaced.

    Tool-call arguments stay valid JSON: the replacement is plain ASCII without quotes or backslashes.
    """
    patterns = _patterns(limits)
    count = 0

    def scrub(text):
        nonlocal count
        if not text:
            return text
        for kind, pattern in patterns.items():
            text, n = pattern.subn(f"[REDACTED:{kind}]", text)
            count += n
        return text

    messages = []
    for m in traj["messages"]:
        m2 = dict(m)
        for key in ("content", "reasoning_content"):
            if m2.get(key):
                m2[key] = scrub(m2[key])
        if m2.get("tool_calls"):
            m2["tool_calls"] = [{**c, "function": {**c["function"], "arguments": scrub(c["function"]["arguments"])}}
                                for c in m2["tool_calls"]]
        messages.append(m2)
    out = {**traj, "messages": messages, "patch": scrub(traj.get("patch"))}
    meta = traj.get("metadata")
    if meta:
        # Scrubbing the JSON text keeps it valid: replacements contain no quotes or backslashes.
        out["metadata"] = json.loads(scrub(json.dumps(meta, ensure_ascii=False)))
    if count:
        out["metadata"] = {**(out.get("metadata") or {}), "secrets_scrubbed": count}
    return out, count


def leaked_secrets(traj: dict, limits: TrajectoryLimits) -> Rejection | None:
    if limits.secrets != "drop":
        return None
    found = [k for t in _texts(traj) for k in find_secrets(t, limits)]
    if found:
        return Rejection("leaked_secret", signal=len(found), limit=0, detail=", ".join(sorted(set(found))))
    return None


def policy_version_number(version: str | None) -> int | None:
    """The last integer in a policy version string (`step-1200`, `ckpt_7`, `v3`); None if there is none."""
    if not version:
        return None
    m = _TRAILING_INT.search(version)
    return int(m.group(1)) if m else None


def stale_policy(traj: dict, limits: TrajectoryLimits) -> Rejection | None:
    if limits.max_policy_staleness is None:
        return None
    begin = policy_version_number(traj.get("policy_version_begin"))
    end = policy_version_number(traj.get("policy_version_end"))
    if begin is None or end is None:
        return None
    staleness = end - begin
    if staleness > limits.max_policy_staleness:
        return Rejection("stale_policy", signal=staleness, limit=limits.max_policy_staleness,
                         detail=f"{traj.get('policy_version_begin')} -> {traj.get('policy_version_end')}")
    return None


FILTERS: tuple[Callable[[dict, TrajectoryLimits], Rejection | None], ...] = (
    max_turns, max_tokens, empty_patch, patch_touches_tests, repeated_actions, tool_errors, leaked_secrets,
    stale_policy,
)


def limits_from(section) -> TrajectoryLimits:
    """Limits from any config section with fields of the same names (e.g. `Config.filters`)."""
    names = {f.name for f in dataclasses.fields(TrajectoryLimits)}
    return TrajectoryLimits(**{n: getattr(section, n) for n in names if hasattr(section, n)})


def apply_filters(traj: dict, limits: TrajectoryLimits) -> dict | Rejection:
    """Scrub secrets (per policy), then the first filter that rejects, else the (scrubbed) trajectory."""
    if limits.secrets == "scrub":
        traj, _ = scrub_secrets(traj, limits)
    for check in FILTERS:
        rejection = check(traj, limits)
        if rejection is not None:
            return rejection
    return traj
