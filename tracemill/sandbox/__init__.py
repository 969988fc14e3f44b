"""Run untrusted code under bubblewrap: no network, read-only system, one private writable tree,
wall-clock and memory limits, the whole process group killed on timeout."""

from tracemill.sandbox.bwrap import ExecStatus, SandboxLimits, SandboxResult, bwrap_available, run_sandboxed

__all__ = ["ExecStatus", "SandboxLimits", "SandboxResult", "bwrap_available", "run_sandboxed"]
