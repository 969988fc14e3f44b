"""Error classes; an error's class decides what happens to the run or the record.

ConfigError   -> fatal: the CLI prints one line and exits 2.
RecordError   -> the record is dead-lettered with the message (bad input, never a crash).
InfraError    -> retried by the one retry layer, then dead-lettered as an infrastructure failure;
                 never turned into a negative training label.
"""

from __future__ import annotations


class TracemillError(Exception):
    """Base class of tracemill's own errors."""


class ConfigError(TracemillError):
    """A fatal configuration or usage error."""


class RecordError(TracemillError):
    """A single record is unusable; `path` locates the offending field when known."""

    def __init__(self, message: str, *, path: str | None = None, reason: str = "invalid_record"):
        super().__init__(message)
        self.path = path
        self.reason = reason


class InfraError(TracemillError):
    """The environment failed (sandbox did not start, server 503, empty test report)."""

    def __init__(self, message: str, *, reason: str = "infra_error"):
        super().__init__(message)
        self.reason = reason
