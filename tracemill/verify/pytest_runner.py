"""Run pytest on a work tree inside the sandbox and read per-test statuses from JUnit XML."""

from __future__ import annotations

import shlex
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from tracemill.errors import InfraError
from tracemill.sandbox import ExecStatus, SandboxLimits, run_sandboxed
from tracemill.verify.junit import TestStatus, parse_junit

# The repo's own addopts may need plugins we do not have (--cov ...) and a patch could add
# --deselect; the cache provider would write into the tree.
PYTEST_FLAGS = ("-p", "no:cacheprovider", "-o", "addopts=", "-o", "junit_family=xunit1", "-q", "-rN")


@dataclass
class PytestRun:
    exec_status: ExecStatus
    exit_code: int | None
    tests: list[TestStatus] = field(default_factory=list)
    stdout: str = ""
    stderr: str = ""
    duration_s: float = 0.0
    infra_failure_reason: str | None = None
    command: str = ""

    def status_map(self) -> dict[str, str]:
        return {t.nodeid: t.status for t in self.tests}


def test_command(selection: list[str], python: str = "python") -> str:
    return shlex.join([python, "-m", "pytest", *PYTEST_FLAGS, *selection])


def run_pytest(
    workdir: Path,
    selection: list[str] | None = None,
    *,
    python: str | None = None,
    limits: SandboxLimits = SandboxLimits(),  # noqa: B008 - frozen dataclass, immutable
    extra_args: tuple[str, ...] = (),
    ro_paths: tuple[str, ...] = (),
    env: dict[str, str] | None = None,
) -> PytestRun:
    """Run `selection` (files or node ids; all tests when empty) and return statuses.

    Infrastructure failures (sandbox did not start, no/unparseable report) come back with
    `infra_failure_reason` set rather than raising, so callers can retry or dead-letter.
    """
    python = python or sys.executable
    with tempfile.TemporaryDirectory(prefix="tracemill-junit-") as out_dir:
        report = Path(out_dir) / "junit.xml"
        argv = [python, "-m", "pytest", *PYTEST_FLAGS, f"--junitxml={report}", *extra_args, *(selection or [])]
        res = run_sandboxed(argv, workdir=workdir, limits=limits, rw_paths=(out_dir,), ro_paths=ro_paths, env=env)
        run = PytestRun(res.status, res.returncode, [], res.stdout, res.stderr, res.duration_s,
                        command=test_command(selection or [], "python"))
        if res.status == ExecStatus.INFRA_ERROR:
            run.infra_failure_reason = f"sandbox_start: {res.detail}"
            return run
        if res.status == ExecStatus.TIMEOUT:
            return run
        try:
            run.tests = parse_junit(report.read_text(encoding="utf-8", errors="replace") if report.exists() else "")
        except InfraError as exc:
            tail = " | ".join((res.stderr or res.stdout).strip().splitlines()[-3:])[:400]
            run.infra_failure_reason = f"{exc.reason}: {exc} (exit {res.returncode}; {tail})"
        return run
