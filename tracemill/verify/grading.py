"""Grade a patch against a task: sandboxed pytest run, SWE-bench resolution rules, test_run record.

Resolved means every FAIL_TO_PASS and PASS_TO_PASS test passed; a skipped or missing test counts as
a failure. Infrastructure failures are retried, then raised as InfraError so the caller
dead-letters them: they never become negative labels.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

from tracemill.errors import InfraError
from tracemill.lru import LruCache
from tracemill.sandbox import ExecStatus, SandboxLimits
from tracemill.verify import workspace
from tracemill.verify.patches import sha256_text
from tracemill.verify.pytest_runner import PytestRun, run_pytest, test_command

GRADER_VERSION = "tracemill-grader/1"


@dataclass(frozen=True)
class GradeSettings:
    limits: SandboxLimits = SandboxLimits(timeout_s=60.0, memory_mb=2048)  # noqa: RUF009 - frozen, immutable
    infra_retries: int = 2
    python: str | None = None  # interpreter with pytest and the repo's dependencies


def selection_files(tests: list[str]) -> list[str]:
    """Test files to run: whole files, as the harness does, so one missing node id cannot abort collection."""
    return sorted({t.split("::", 1)[0] for t in tests})


def split_report(wanted: list[str], statuses: dict[str, str]) -> dict[str, list[str]]:
    ok = [t for t in wanted if statuses.get(t) == "passed"]
    return {"success": ok, "failure": [t for t in wanted if statuses.get(t) != "passed"]}


def run_id_for(task: dict, patch: str | None) -> str:
    key = json.dumps([task["repo"], task["base_commit"], sha256_text(patch), sha256_text(task.get("test_patch")),
                      sorted(task["FAIL_TO_PASS"]), sorted(task["PASS_TO_PASS"])])
    return "run-" + hashlib.sha256(key.encode()).hexdigest()[:20]


# Per-worker results by run id: identical (patch, tests) pairs across rollouts are graded once.
_CACHE: LruCache[str, dict] = LruCache(10_000)


def grade(task: dict, patch: str | None, repo_path: str, settings: GradeSettings = GradeSettings(),
          traj_id: str | None = None) -> dict:
    """A `test_run` record for `patch` on `task`. Cached by (repo, commit, patch hash, tests)."""
    run_id = run_id_for(task, patch)
    hit = _CACHE.get(run_id)
    cached = hit is not None
    if hit is None:
        hit = _grade_uncached(task, patch, repo_path, settings, run_id)
        _CACHE.put(run_id, hit)
    return {**hit, "traj_id": traj_id, "cached": cached}


def _grade_uncached(task: dict, patch: str | None, repo_path: str, settings: GradeSettings, run_id: str) -> dict:
    f2p, p2p = list(task["FAIL_TO_PASS"]), list(task["PASS_TO_PASS"])
    files = selection_files(f2p + p2p)
    base = {
        "run_id": run_id,
        "instance_id": task["instance_id"],
        "repo": task["repo"],
        "base_commit": task["base_commit"],
        "patch_sha256": sha256_text(patch),
        "test_command": task.get("test_command") or test_command(files),
        "grader_version": GRADER_VERSION,
        "infra_failure_reason": None,
        "duration_s": None,
    }
    last_infra = None
    for attempt in range(1, settings.infra_retries + 2):
        with tempfile.TemporaryDirectory(prefix="tracemill-grade-") as tmp:
            tree = Path(tmp) / "repo"
            try:
                workspace.prepare(repo_path, task["base_commit"], patch, task.get("test_patch"), tree)
            except workspace.PatchApplyError as exc:
                return {**base, **_failed_record(f2p, p2p, "patch_failed", None, str(exc)), "attempts": attempt}
            run = run_pytest(tree, files, python=settings.python, limits=settings.limits)
        if run.infra_failure_reason:
            last_infra = run.infra_failure_reason
            continue
        return {**base, **_record_from_run(run, f2p, p2p), "attempts": attempt, "duration_s": run.duration_s}
    raise InfraError(f"grading {task['instance_id']} failed {settings.infra_retries + 1} times: {last_infra}",
                     reason="grading_infra_failure")


def _failed_record(f2p: list[str], p2p: list[str], outcome: str, exit_code: int | None, message: str) -> dict:
    return {
        "tests": [{"nodeid": t, "status": "missing", "message": message[:2000]} for t in f2p + p2p],
        "outcome": outcome,
        "resolved": False,
        "fail_to_pass": {"success": [], "failure": list(f2p)},
        "pass_to_pass": {"success": [], "failure": list(p2p)},
        "exit_code": exit_code,
    }


def _record_from_run(run: PytestRun, f2p: list[str], p2p: list[str]) -> dict:
    if run.exec_status == ExecStatus.TIMEOUT:
        return _failed_record(f2p, p2p, "timeout", None, "test run exceeded the wall-clock limit")
    statuses = run.status_map()
    by_id = {t.nodeid: t for t in run.tests}
    tests = []
    for t in f2p + p2p:
        found = by_id.get(t)
        tests.append({"nodeid": t, "status": found.status if found else "missing",
                      "message": found.message if found else None})
    f2p_split, p2p_split = split_report(f2p, statuses), split_report(p2p, statuses)
    resolved = not f2p_split["failure"] and not p2p_split["failure"]
    return {
        "tests": tests,
        "outcome": "resolved" if resolved else "unresolved",
        "resolved": resolved,
        "fail_to_pass": f2p_split,
        "pass_to_pass": p2p_split,
        "exit_code": run.exit_code,
    }
