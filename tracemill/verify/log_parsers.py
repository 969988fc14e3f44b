"""Harness test logs -> per-test statuses, as SWE-bench's log parsers read them.

A harness (SWE-bench, SWE-smith, our own sandbox run) captures a test command's console output.
This module turns that text into `{test_id: status}` plus the evidence that the suite actually ran,
which `harness_report` needs to tell an empty run from a broken one. Statuses use the JUnit
vocabulary the rest of `verify/` uses: passed, failed, error, skipped, xfail, xpass.

Formats: `pytest` (verbose `nodeid PASSED [ 10%]` lines, `-rA` short-summary `PASSED nodeid` /
`FAILED nodeid - message` lines, xdist `[gw0] [ 10%] PASSED nodeid`) and `gotest` (`go test -v`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# SWE-bench harness markers (swebench.harness.constants); the eval script echoes the first two
# around the test command, and run_instance writes the others when a step fails.
START_TEST_OUTPUT = ">>>>> Start Test Output"
END_TEST_OUTPUT = ">>>>> End Test Output"
APPLY_PATCH_FAIL = ">>>>> Patch Apply Failed"
APPLY_PATCH_PASS = ">>>>> Applied Patch"
RESET_FAILED = ">>>>> Reset Failed"
TESTS_ERROR = ">>>>> Tests Errored"
TESTS_TIMEOUT = ">>>>> Tests Timed Out"

STATUSES = ("passed", "failed", "error", "skipped", "xfail", "xpass")
_PYTEST_WORDS = {"PASSED": "passed", "FAILED": "failed", "ERROR": "error", "SKIPPED": "skipped",
                 "XFAIL": "xfail", "XPASS": "xpass"}
_WORD = "|".join(_PYTEST_WORDS)
# `nodeid STATUS` optionally followed by pytest>=7's `(reason)` and a progress gauge: pytest -v.
_VERBOSE = re.compile(rf"^(?P<id>\S.*?::\S.*?) (?P<st>{_WORD})(?: \(.*\))?(?:\s+\[\s*\d+%\])?\s*$")
# `STATUS nodeid[ - message]`: pytest -rA short summary, and pytest-xdist -v lines after the gauge.
_SUMMARY = re.compile(rf"^(?:\[gw\d+\] \[\s*\d+%\] )?(?P<st>{_WORD}) (?P<rest>\S.*)$")
# Evidence that pytest started and reported, even when it collected nothing we asked about.
_PYTEST_RAN = re.compile(
    r"^(=+ test session starts =+|collected \d+ items?|collecting \.\.\. collected \d+|"
    r"=+ .*\b(passed|failed|error|errors|skipped|no tests ran|deselected)\b.* in [\d.]+s.*=+|"
    r"Results \([\d.]+s\):)",
    re.MULTILINE,
)
_GO_RESULT = re.compile(r"^\s*--- (?P<st>PASS|FAIL|SKIP): (?P<id>\S+) \(")
_GO_RAN = re.compile(r"^(=== RUN|ok\s+\S+|FAIL\s+\S+|PASS$|FAIL$)", re.MULTILINE)
_GO_WORDS = {"PASS": "passed", "FAIL": "failed", "SKIP": "skipped"}


@dataclass
class ParsedLog:
    """What a log says: statuses by test id, and the harness facts around the test run."""

    statuses: dict[str, str] = field(default_factory=dict)
    suite_ran: bool = False  # the runner's own banner/summary appears: an empty map is then real
    markers_found: bool = False  # the SWE-bench start/end markers bracket the test output
    apply_failed: bool = False
    apply_passed: bool = False
    reset_failed: bool = False
    tests_errored: bool = False
    timed_out: bool = False


def test_region(log: str) -> tuple[str, bool]:
    """The text between the harness's start/end markers, or the whole log when they are absent."""
    start, end = log.find(START_TEST_OUTPUT), log.rfind(END_TEST_OUTPUT)
    if start == -1 or end == -1 or end < start:
        return log, False
    # Markers are echoed by `set -x` as `+ : '>>>>> Start Test Output'`: skip to the next line.
    nl = log.find("\n", start)
    region_start = nl + 1 if nl != -1 else start + len(START_TEST_OUTPUT)
    region_end = log.rfind("\n", 0, end)
    return log[region_start : max(region_end, region_start)], True


def _summary_id(rest: str) -> str | None:
    # `FAILED tests/a.py::t[x - y] - AssertionError: ...`: the id ends at the bracket that closes the
    # parametrization, so a " - " inside the brackets is not taken for the message separator.
    if "::" not in rest and not rest.split(" ", 1)[0].endswith(".py"):
        return None  # `SKIPPED [1] tests/a.py:12: reason` names a file:line, not a test
    head = rest.split("::", 1)
    if "[" in head[-1]:
        depth, i = 0, rest.index("[", len(head[0]))
        for j in range(i, len(rest)):
            depth += {"[": 1, "]": -1}.get(rest[j], 0)
            if depth == 0:
                return rest[: j + 1]
        return rest
    return rest.split(" - ", 1)[0].split(" ", 1)[0]


def parse_pytest(log: str) -> ParsedLog:
    """Statuses from a pytest console log; a later line overrides an earlier one for the same id."""
    region, markers = test_region(log)
    out = _harness_facts(log, markers)
    for raw in region.splitlines():
        line = raw.rstrip("\r")
        m = _VERBOSE.match(line)
        if m:
            out.statuses[m.group("id")] = _PYTEST_WORDS[m.group("st")]
            continue
        m = _SUMMARY.match(line)
        if m:
            test_id = _summary_id(m.group("rest"))
            if test_id:
                status = _PYTEST_WORDS[m.group("st")]
                # The -rA summary repeats an ERROR at teardown for a test that PASSED its call:
                # the harness counts the test as failed then, so an error never downgrades to passed.
                if out.statuses.get(test_id) in ("failed", "error") and status == "passed":
                    continue
                out.statuses[test_id] = status
    out.suite_ran = bool(_PYTEST_RAN.search(region)) or bool(out.statuses)
    return out


def parse_gotest(log: str) -> ParsedLog:
    """Statuses from `go test -v` output; subtests keep their `Parent/sub` names."""
    region, markers = test_region(log)
    out = _harness_facts(log, markers)
    for line in region.splitlines():
        m = _GO_RESULT.match(line.rstrip("\r"))
        if m:
            out.statuses[m.group("id")] = _GO_WORDS[m.group("st")]
    out.suite_ran = bool(_GO_RAN.search(region)) or bool(out.statuses)
    return out


def _harness_facts(log: str, markers: bool) -> ParsedLog:
    return ParsedLog(
        markers_found=markers,
        apply_failed=APPLY_PATCH_FAIL in log,
        apply_passed=APPLY_PATCH_PASS in log,
        reset_failed=RESET_FAILED in log,
        tests_errored=TESTS_ERROR in log,
        timed_out=TESTS_TIMEOUT in log,
    )


PARSERS = {"pytest": parse_pytest, "gotest": parse_gotest}


def parse_log(log: str, fmt: str = "pytest") -> ParsedLog:
    try:
        parser = PARSERS[fmt]
    except KeyError:
        raise ValueError(f"unknown log format {fmt!r}; known: {', '.join(sorted(PARSERS))}") from None
    return parser(log)
