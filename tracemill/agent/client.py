"""The policy client: one chat-completion call to any OpenAI-compatible server (vLLM, SGLang, llama.cpp
server, OpenAI), with the run's only retry layer and the policy version that answered.

The `openai` client is built with `max_retries=0`; this module retries, in exactly one place, on 429,
5xx and connection errors with exponential backoff and full jitter (honouring `Retry-After`). A
request that outlives its timeout is *not* retried: the server accepted it and the generation took
longer than the step's wall-time budget, which the agent loop records as the rollout's `timeout`.
Servers used for asynchronous RL swap weights while rollouts are in flight, so every answer carries
the policy version that produced it: the configured response header when present, else the
response's `model` field.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import openai

from tracemill.errors import ConfigError, InfraError

# Header that tells a server (and our test double) which rollout a request belongs to; real servers
# ignore it, routers can use it for sticky sessions and logs.
ROLLOUT_HEADER = "X-Tracemill-Rollout"


@dataclass(frozen=True)
class ClientSettings:
    base_url: str
    model: str
    api_key: str = "EMPTY"
    timeout_s: float = 120.0  # one request; beyond it the step times out
    max_attempts: int = 6  # per request, counting the first
    backoff_base_s: float = 0.5
    backoff_max_s: float = 30.0
    version_header: str | None = None  # e.g. "X-Policy-Version"; None reads the response `model` field
    max_completion_tokens: int | None = None


class PolicyUnavailable(InfraError):
    """The server kept failing (429/5xx/connection) after every retry: an infrastructure failure."""

    def __init__(self, message: str):
        super().__init__(message, reason="policy_unavailable")


class PolicyTimeout(Exception):
    """One request outlived its timeout (the step's wall-time budget)."""


class ContextLengthExceeded(Exception):
    """The server refused the prompt as longer than the model's context (HTTP 400)."""


class PolicyRequestRejected(InfraError):
    """The server refused the request with a 4xx other than 429 and context length: not the policy's doing."""

    def __init__(self, message: str):
        super().__init__(message, reason="policy_request_rejected")


@dataclass
class Completion:
    message: dict  # OpenAI-style assistant message (role, content, tool_calls[, reasoning_content])
    policy_version: str | None
    finish_reason: str | None
    prompt_tokens: int | None
    completion_tokens: int | None
    attempts: int
    seconds: float


@dataclass
class ClientStats:
    requests: int = 0
    retries: int = 0
    by_error: dict[str, int] = field(default_factory=dict)

    def count(self, kind: str) -> None:
        self.by_error[kind] = self.by_error.get(kind, 0) + 1


def is_retryable(exc: BaseException) -> bool:
    """429, 5xx and connection failures; never a timeout, never another 4xx."""
    if isinstance(exc, openai.APITimeoutError):
        return False
    if isinstance(exc, openai.APIConnectionError):
        return True
    return isinstance(exc, openai.APIStatusError) and (exc.status_code == 429 or exc.status_code >= 500)


def backoff_delay(attempt: int, settings: ClientSettings, rng: random.Random, retry_after: float | None) -> float:
    """Full-jitter exponential backoff for retry number `attempt` (1-based), at least `Retry-After`."""
    ceiling = min(settings.backoff_max_s, settings.backoff_base_s * 2 ** (attempt - 1))
    delay = rng.uniform(0, ceiling)
    if retry_after is not None:
        delay = max(delay, min(retry_after, settings.backoff_max_s))
    return delay


def _retry_after(exc: BaseException) -> float | None:
    response = getattr(exc, "response", None)
    raw = response.headers.get("retry-after") if response is not None else None
    try:
        return float(raw) if raw is not None else None
    except ValueError:
        return None  # an HTTP date; the computed backoff is good enough


def _is_context_error(exc: openai.BadRequestError) -> bool:
    text = str(exc).lower()
    return any(s in text for s in ("context length", "context_length", "maximum context", "too many tokens",
                                   "prompt is too long"))


def _message_dict(message) -> dict:
    out = {"role": "assistant", "content": message.content}
    calls = []
    for call in message.tool_calls or []:
        fn = getattr(call, "function", None)
        calls.append({"id": call.id or "", "type": "function",
                      "function": {"name": getattr(fn, "name", "") or "",
                                   "arguments": getattr(fn, "arguments", "") or ""}})
    if calls:
        out["tool_calls"] = calls
    # vLLM and SGLang return reasoning models' thinking next to the content.
    extra = getattr(message, "model_extra", None) or {}
    reasoning = extra.get("reasoning_content") or extra.get("reasoning")
    if isinstance(reasoning, str) and reasoning:
        out["reasoning_content"] = reasoning
    return out


class PolicyClient:
    """An async chat-completion client for one served model; open once per process and share."""

    def __init__(self, settings: ClientSettings, *, sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                 rng: random.Random | None = None):
        self.settings = settings
        self.stats = ClientStats()
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._client = openai.AsyncOpenAI(base_url=settings.base_url, api_key=settings.api_key or "EMPTY",
                                          max_retries=0, timeout=settings.timeout_s)

    async def close(self) -> None:
        await self._client.close()

    async def _with_retries(self, call: Callable[[], Awaitable], what: str, timeout_s: float | None = None):
        last: BaseException | None = None
        for attempt in range(1, self.settings.max_attempts + 1):
            self.stats.requests += 1
            try:
                return await call(), attempt
            except openai.APITimeoutError as exc:
                self.stats.count("timeout")
                raise PolicyTimeout(f"{what}: no answer within {timeout_s or self.settings.timeout_s:g}s") from exc
            except openai.APIError as exc:
                if not is_retryable(exc):
                    raise
                last = exc
                self.stats.count(str(getattr(exc, "status_code", None) or "connection"))
            if attempt < self.settings.max_attempts:
                self.stats.retries += 1
                await self._sleep(backoff_delay(attempt, self.settings, self._rng, _retry_after(last)))
        status = getattr(last, "status_code", None)
        raise PolicyUnavailable(f"{what} failed {self.settings.max_attempts} times; last error: "
                                f"{type(last).__name__}{f' {status}' if status else ''}: {str(last)[:300]}")

    async def check_model(self) -> list[str]:
        """The served model ids (`GET /models`); ConfigError when the server or the model is missing."""
        try:
            raw, _ = await self._with_retries(lambda: self._client.models.with_raw_response.list(), "GET /models")
        except (PolicyUnavailable, PolicyTimeout) as exc:
            raise ConfigError(f"cannot reach the policy server at {self.settings.base_url}: {exc}") from exc
        except openai.APIStatusError as exc:
            raise ConfigError(f"policy server {self.settings.base_url} refused GET /models: "
                              f"HTTP {exc.status_code}") from exc
        ids = [m.id for m in raw.parse().data]
        if ids and self.settings.model not in ids:
            raise ConfigError(f"model {self.settings.model!r} is not served at {self.settings.base_url} "
                              f"(served: {', '.join(ids[:10])})")
        return ids

    async def complete(self, messages: list[dict], tools: list[dict], *, temperature: float | None = None,
                       top_p: float | None = None, seed: int | None = None, timeout_s: float | None = None,
                       rollout: str | None = None) -> Completion:
        """One assistant turn. Raises PolicyTimeout, ContextLengthExceeded, PolicyUnavailable or
        PolicyRequestRejected."""
        # No tool_choice / parallel_tool_calls: servers differ in what they accept (vLLM needs a flag for
        # "auto"); the loop itself enforces one tool call per step.
        kwargs: dict = {"model": self.settings.model, "messages": messages, "tools": tools}
        if temperature is not None:
            kwargs["temperature"] = temperature
        if top_p is not None:
            kwargs["top_p"] = top_p
        if seed is not None:
            kwargs["seed"] = seed
        if self.settings.max_completion_tokens:
            kwargs["max_tokens"] = self.settings.max_completion_tokens
        if rollout:
            kwargs["extra_headers"] = {ROLLOUT_HEADER: rollout}
        kwargs["timeout"] = min(timeout_s, self.settings.timeout_s) if timeout_s else self.settings.timeout_s
        started = time.monotonic()
        try:
            raw, attempts = await self._with_retries(
                lambda: self._client.chat.completions.with_raw_response.create(**kwargs), "chat completion",
                kwargs["timeout"])
        except openai.BadRequestError as exc:
            if _is_context_error(exc):
                raise ContextLengthExceeded(str(exc)[:300]) from exc
            raise PolicyRequestRejected(f"HTTP 400: {str(exc)[:300]}") from exc
        except openai.APIStatusError as exc:
            raise PolicyRequestRejected(f"HTTP {exc.status_code}: {str(exc)[:300]}") from exc
        completion = raw.parse()
        version = raw.headers.get(self.settings.version_header) if self.settings.version_header else None
        choice = completion.choices[0]
        usage = completion.usage
        return Completion(
            message=_message_dict(choice.message),
            policy_version=version or completion.model,
            finish_reason=choice.finish_reason,
            prompt_tokens=getattr(usage, "prompt_tokens", None),
            completion_tokens=getattr(usage, "completion_tokens", None),
            attempts=attempts,
            seconds=time.monotonic() - started,
        )
