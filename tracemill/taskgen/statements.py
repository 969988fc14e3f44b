"""Problem statements for mutate-fix tasks: from the failing tests' output, optionally rewritten by an LLM.

The default statement names the failing tests and quotes their assertion messages, nothing about
where the bug is. With an OpenAI-compatible endpoint configured, `LlmStatementWriter` asks a model
for an issue-style report from the same evidence; off by default, and one retry layer (on 429,
5xx and connection errors) as everywhere else.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

MAX_TESTS_LISTED = 8
MAX_MESSAGE = 600


def statement_from_failures(failing: list[str], messages: dict[str, str],
                            header: str = "{n} test(s) fail that used to pass:") -> str:
    lines = [header.format(n=len(failing))]
    for t in failing[:MAX_TESTS_LISTED]:
        lines.append(f"- {t}")
    if len(failing) > MAX_TESTS_LISTED:
        lines.append(f"- ... and {len(failing) - MAX_TESTS_LISTED} more")
    shown = 0
    for t in failing:
        msg = (messages.get(t) or "").strip()
        if msg and shown < 3:
            lines += ["", f"{t}:", msg[:MAX_MESSAGE]]
            shown += 1
    lines += ["", "Fix the library code so these tests pass again without breaking the others."]
    return "\n".join(lines)


_PROMPT = ("Write a concise GitHub issue (title line, then 2-6 sentences) reporting the misbehaviour that "
           "these failing tests reveal. Describe symptoms, not the fix; do not name the faulty line.\n\n{evidence}")


@dataclass
class LlmStatementWriter:
    """Rewrites a statement through any OpenAI-compatible endpoint; the client opens lazily per worker."""

    model: str
    base_url: str | None = None
    api_key: str | None = None
    max_attempts: int = 4

    def __post_init__(self):
        self._client = None

    def _open(self):
        if self._client is None:
            import openai

            self._client = openai.OpenAI(base_url=self.base_url, api_key=self.api_key or "unused", max_retries=0)
        return self._client

    def __call__(self, task: dict) -> dict:
        import openai

        client = self._open()
        for attempt in range(self.max_attempts):
            try:
                resp = client.chat.completions.create(
                    model=self.model, temperature=0,
                    messages=[{"role": "user", "content": _PROMPT.format(evidence=task["problem_statement"])}])
                text = (resp.choices[0].message.content or "").strip()
                return {**task, "problem_statement": text or task["problem_statement"],
                        "hints_text": task["problem_statement"]}
            except (openai.RateLimitError, openai.APIConnectionError, openai.InternalServerError):
                if attempt + 1 == self.max_attempts:
                    from tracemill.errors import InfraError

                    raise InfraError("statement model unavailable", reason="llm_unavailable") from None
                time.sleep(min(2**attempt, 20))
        return task


@dataclass
class WithLlmStatement:
    """A task stage followed by the LLM rewrite, for kept tasks only (never pay tokens for a rejection)."""

    stage_fn: object
    writer: LlmStatementWriter

    def __call__(self, task: dict):
        out = self.stage_fn(task)
        return self.writer(out) if isinstance(out, dict) else out
