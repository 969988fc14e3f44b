"""Filters over validated tasks: what a curator decides after the tests have spoken.

`collection_error`: the "before" side of a task failed to import a test module, so every test
of that module counts as FAIL_TO_PASS (the SWE-bench harness counts them). Such tasks are always
flagged; the configured policy keeps them (flag only) or rejects them with the measured signal.
"""

from __future__ import annotations

from dataclasses import dataclass

from tracemill.records import Rejection

POLICIES = ("keep", "reject")


@dataclass(frozen=True)
class TaskFilterConfig:
    collection_error: str = "keep"  # keep | reject
    min_fail_to_pass: int = 1
    max_fail_to_pass: int | None = None  # a patch that fixes hundreds of tests is rarely one task

    def __post_init__(self):
        if self.collection_error not in POLICIES:
            from tracemill.errors import ConfigError

            raise ConfigError(f"collection_error policy must be one of {POLICIES}, not {self.collection_error!r}")


def collection_error(task: dict, policy: str) -> Rejection | None:
    errors = (task.get("provenance") or {}).get("collection_errors") or []
    affected = sum(e.get("tests_affected", 0) for e in errors)
    if "collection_error" not in (task.get("flags") or []) or policy == "keep":
        return None
    modules = ", ".join(e["module"] for e in errors)
    return Rejection("collection_error", signal=float(affected), limit=0,
                     detail=f"before side failed to collect {modules}; {affected} FAIL_TO_PASS tests affected")


def fail_to_pass_count(task: dict, low: int, high: int | None) -> Rejection | None:
    n = len(task.get("FAIL_TO_PASS") or [])
    if n < low:
        return Rejection("too_few_fail_to_pass", signal=float(n), limit=float(low))
    if high is not None and n > high:
        return Rejection("too_many_fail_to_pass", signal=float(n), limit=float(high))
    return None


@dataclass(frozen=True)
class TaskFilter:
    """The stage function: the first filter that objects rejects the task."""

    config: TaskFilterConfig = TaskFilterConfig()

    def __call__(self, task: dict) -> dict | Rejection:
        for rej in (collection_error(task, self.config.collection_error),
                    fail_to_pass_count(task, self.config.min_fail_to_pass, self.config.max_fail_to_pass)):
            if rej is not None:
                return rej
        return task
