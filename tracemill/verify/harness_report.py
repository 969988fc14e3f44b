"""SWE-bench v5 report rules: per-test statuses of a harness log -> FAIL_TO_PASS/PASS_TO_PASS verdict.

`verify/log_parsers.py` reads a log; this module decides what it means for one instance and writes
the report dict the SWE-bench harness writes (`{instance_id: {patch_is_None, patch_exists,
patch_successfully_applied, resolved, tests_status}}`), plus our `outcome` and `invalid_reason`.
Used by `tracemill grade` (captured logs, `verdict_from_log`) and by the live grader
(`verdict_from_pytest_run` on a sandboxed run's JUnit statuses), so both apply one set of rules.

Rules (SWE-bench v5, stricter than the SWE-smith harness on two points, see `SWE_SMITH_DIFFERENCES`):
- a test succeeds only if its status is passed (or xfail, as SWE-bench counts it); skipped, missing,
  failed and error all fail -- a skipped FAIL_TO_PASS test is a failure;
- a patch that did not apply is never resolved;
- an empty status map without evidence that the suite ran (banner, summary) is an invalid log, not a
  failure; a non-zero exit code with no failing test is invalid too (the runner crashed around the
  tests). Invalid verdicts are infrastructure outcomes: never a negative training label.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from tracemill.sandbox import ExecStatus
from tracemill.verify.log_parsers import ParsedLog, parse_log
from tracemill.verify.pytest_runner import PytestRun

FAIL_TO_PASS, PASS_TO_PASS = "FAIL_TO_PASS", "PASS_TO_PASS"
FAIL_TO_FAIL, PASS_TO_FAIL = "FAIL_TO_FAIL", "PASS_TO_FAIL"
SUCCESS_STATUSES = frozenset({"passed", "xfail"})
FAILURE_STATUSES = frozenset({"failed", "error"})

# Outcomes; the last four are infrastructure/evidence problems, not model failures.
RESOLVED, UNRESOLVED, PATCH_FAILED, NO_PATCH = "resolved", "unresolved", "patch_failed", "no_patch"
TIMEOUT, ENV_ERROR, INVALID_LOG, INVALID_EXIT = "timeout", "env_error", "invalid_log", "invalid_exit_code"
INVALID_OUTCOMES = frozenset({ENV_ERROR, INVALID_LOG, INVALID_EXIT})

SWE_SMITH_DIFFERENCES = (
    ("SWE-smith counts a FAIL_TO_PASS/PASS_TO_PASS test missing from the log as passed and leaves a "
     "skipped one out of both lists; SWE-bench v5 (and tracemill) count both as failures."),
    ("SWE-smith's get_eval_report never sets patch_successfully_applied to true, so its reports "
     "say false even when the tests ran on the applied patch; tracemill takes the apply status from "
     "the log's harness markers or from the caller, and a patch that did not apply is never resolved."),
)


def as_list(value) -> list[str]:
    """FAIL_TO_PASS/PASS_TO_PASS as a list: the Hugging Face SWE-bench release JSON-encodes them."""
    if value is None:
        return []
    if isinstance(value, str):
        decoded = json.loads(value) if value.strip() else []
        if not isinstance(decoded, list):
            raise TypeError("FAIL_TO_PASS/PASS_TO_PASS string does not decode to a list")
        return [str(v) for v in decoded]
    return [str(v) for v in value]


def split_tests(wanted: list[str], statuses: dict[str, str]) -> dict[str, list[str]]:
    success = [t for t in wanted if statuses.get(t) in SUCCESS_STATUSES]
    return {"success": success, "failure": [t for t in wanted if statuses.get(t) not in SUCCESS_STATUSES]}


@dataclass
class Verdict:
    """A graded instance: the SWE-bench report entry plus why it came out that way."""

    instance_id: str
    outcome: str
    resolved: bool
    tests_status: dict[str, dict[str, list[str]]] | None
    patch_exists: bool = True
    patch_applied: bool | None = None
    invalid_reason: str | None = None
    statuses: dict[str, str] = field(default_factory=dict)

    @property
    def valid(self) -> bool:
        return self.outcome not in INVALID_OUTCOMES

    def report(self) -> dict:
        """`{instance_id: {...}}` in the SWE-bench report.json shape, plus `outcome`/`invalid_reason`."""
        entry = {
            "patch_is_None": not self.patch_exists,
            "patch_exists": self.patch_exists,
            "patch_successfully_applied": bool(self.patch_applied),
            "resolved": self.resolved,
            "outcome": self.outcome,
            "invalid_reason": self.invalid_reason,
        }
        if self.tests_status is not None:
            entry["tests_status"] = self.tests_status
        return {self.instance_id: entry}


def _tests_status(instance: dict, statuses: dict[str, str]) -> dict[str, dict[str, list[str]]]:
    out = {FAIL_TO_PASS: split_tests(as_list(instance.get(FAIL_TO_PASS)), statuses),
           PASS_TO_PASS: split_tests(as_list(instance.get(PASS_TO_PASS)), statuses)}
    # Reported for completeness, as the harness does; they never decide resolution.
    out[FAIL_TO_FAIL] = split_tests(as_list(instance.get(FAIL_TO_FAIL)), statuses)
    out[PASS_TO_FAIL] = split_tests(as_list(instance.get(PASS_TO_FAIL)), statuses)
    return out


def verdict_from_statuses(instance: dict, statuses: dict[str, str], *, suite_ran: bool = True,
                          exit_code: int | None = None, patch_applied: bool | None = True,
                          patch_exists: bool = True) -> Verdict:
    """Grade a status map (from a log or JUnit XML) against the instance's FAIL_TO_PASS/PASS_TO_PASS."""
    iid = str(instance.get("instance_id") or "")

    def early(outcome: str, reason: str | None = None) -> Verdict:
        return Verdict(iid, outcome, False, None, patch_exists, patch_applied, reason, dict(statuses))

    if not patch_exists:
        return early(NO_PATCH)
    if patch_applied is False:
        return early(PATCH_FAILED)
    if not statuses and not suite_ran:
        return early(INVALID_LOG, "empty status map and no evidence that the test suite ran")
    if exit_code not in (None, 0) and not any(s in FAILURE_STATUSES for s in statuses.values()):
        return early(INVALID_EXIT, f"test command exited {exit_code} but no test failed")
    tests = _tests_status(instance, statuses)
    resolved = not tests[FAIL_TO_PASS]["failure"] and not tests[PASS_TO_PASS]["failure"]
    return Verdict(iid, RESOLVED if resolved else UNRESOLVED, resolved, tests, patch_exists, patch_applied,
                   None, dict(statuses))


def verdict_from_log(instance: dict, log: str, *, fmt: str = "pytest", exit_code: int | None = None,
                     patch_applied: bool | None = None, patch_exists: bool = True) -> Verdict:
    """Grade a harness log. `patch_applied=None` reads the apply status from the log's markers.

    Without an apply marker either way (SWE-smith's test_output.txt has none) the patch is taken
    as applied: the harness only runs tests after a successful apply.
    """
    parsed: ParsedLog = parse_log(log, fmt)
    iid = str(instance.get("instance_id") or "")
    if patch_applied is None:
        patch_applied = not parsed.apply_failed
    if patch_exists and patch_applied:
        if parsed.reset_failed or parsed.tests_errored:
            reason = "harness reset failed" if parsed.reset_failed else "harness reported tests errored"
            return Verdict(iid, ENV_ERROR, False, None, patch_exists, patch_applied, reason, parsed.statuses)
        if parsed.timed_out:
            return Verdict(iid, TIMEOUT, False, None, patch_exists, patch_applied, None, parsed.statuses)
    return verdict_from_statuses(instance, parsed.statuses, suite_ran=parsed.suite_ran, exit_code=exit_code,
                                 patch_applied=patch_applied, patch_exists=patch_exists)


def verdict_from_pytest_run(instance: dict, run: PytestRun) -> Verdict:
    """The live pipeline's path: a sandboxed `PytestRun` (JUnit statuses + exit code) under the same rules.

    A JUnit report with at least one test case, or pytest's own exit codes 0/1/5, is evidence the
    suite ran; a timeout is its own outcome; an infrastructure failure is invalid, never a failure.
    """
    iid = str(instance.get("instance_id") or "")
    if getattr(run, "infra_failure_reason", None):
        return Verdict(iid, ENV_ERROR, False, None, True, True, run.infra_failure_reason, {})
    if run.exec_status == ExecStatus.TIMEOUT:
        return Verdict(iid, TIMEOUT, False, None, True, True, None, run.status_map())
    statuses = run.status_map()
    return verdict_from_statuses(instance, statuses, suite_ran=bool(statuses) or run.exit_code in (0, 1, 5),
                                 exit_code=run.exit_code)


def validation_report(before: dict[str, str], after: dict[str, str]) -> dict[str, list[str]]:
    """FAIL_TO_PASS/PASS_TO_PASS/... from status maps before and after the gold patch.

    A test absent before and passing after is FAIL_TO_PASS (it did not exist or did not collect);
    a test failing before and absent after is reported under `MISSING_AFTER`, never as
    FAIL_TO_PASS (SWE-smith counts it as FAIL_TO_PASS; a vanished test proves nothing).
    """
    out: dict[str, list[str]] = {FAIL_TO_PASS: [], PASS_TO_PASS: [], FAIL_TO_FAIL: [], PASS_TO_FAIL: [],
                                 "MISSING_AFTER": []}
    for test, status in after.items():
        was = before.get(test)
        ok_after = status in SUCCESS_STATUSES
        bad_after = status in FAILURE_STATUSES
        ok_before = was in SUCCESS_STATUSES
        if (was is None or was in FAILURE_STATUSES) and ok_after:
            out[FAIL_TO_PASS].append(test)
        elif ok_before and ok_after:
            out[PASS_TO_PASS].append(test)
        elif was in FAILURE_STATUSES and bad_after:
            out[FAIL_TO_FAIL].append(test)
        elif (was is None or ok_before) and bad_after:
            out[PASS_TO_FAIL].append(test)
    out["MISSING_AFTER"] = [t for t, s in before.items() if t not in after and s in FAILURE_STATUSES]
    return out


def compare_reports(ours: dict, theirs: dict) -> list[str]:
    """Human-readable differences between two report entries (ours first), empty when they agree."""
    diffs = []
    for key in ("patch_successfully_applied", "resolved"):
        if key in theirs and bool(ours.get(key)) != bool(theirs.get(key)):
            diffs.append(f"{key}: tracemill={ours.get(key)} harness={theirs.get(key)}")
    ours_ts, theirs_ts = ours.get("tests_status"), theirs.get("tests_status")
    if ours_ts is None or theirs_ts is None:
        if (ours_ts is None) != (theirs_ts is None):
            who = "tracemill" if ours_ts is None else "the harness"
            diffs.append(f"tests_status: {who} graded no tests (outcome {ours.get('outcome', '?')})")
        return diffs
    for group in (FAIL_TO_PASS, PASS_TO_PASS):
        for side in ("success", "failure"):
            a = set((ours_ts.get(group) or {}).get(side, []))
            b = set((theirs_ts.get(group) or {}).get(side, []))
            for t in sorted(a - b):
                diffs.append(f"{group}.{side}: only tracemill lists {t}")
            for t in sorted(b - a):
                diffs.append(f"{group}.{side}: only the harness lists {t}")
    return diffs
