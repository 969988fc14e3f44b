"""From repeated test runs to FAIL_TO_PASS / PASS_TO_PASS: flaky tests dropped, collection errors found.

Plain functions over {node id: status} maps (one per run). A test whose outcome differs between
runs of the same side is flaky and enters neither list. A "before" module that fails to import is
reported by pytest as one synthetic entry with message "collection failure"; every test of that
module that passes "after" would become FAIL_TO_PASS, so it is reported, never hidden.
"""

from __future__ import annotations

from dataclasses import dataclass, field

FAILING = {"failed", "error"}
COLLECTION_FAILURE = "collection failure"


def outcome(status: str | None) -> str:
    if status is None:
        return "absent"
    return "failing" if status in FAILING else status  # passed | skipped | failing


def stable(runs: list[dict[str, str]]) -> tuple[dict[str, str], set[str]]:
    """({test: outcome} for tests with one outcome in every run, {flaky tests})."""
    names = set().union(*runs) if runs else set()
    out, flaky = {}, set()
    for name in names:
        seen = {outcome(r.get(name)) for r in runs}
        if len(seen) == 1:
            out[name] = seen.pop()
        else:
            flaky.add(name)
    return out, flaky


def collection_failures(runs: list[dict[str, str]], messages: list[dict[str, str]]) -> list[str]:
    """Test files that failed to collect in any run (from pytest's synthetic error entries)."""
    files = set()
    for msgs in messages:
        for nodeid, msg in msgs.items():
            if msg == COLLECTION_FAILURE:
                files.add(nodeid.split("::", 1)[0])
    return sorted(files)


def is_synthetic(nodeid: str, failed_files: list[str]) -> bool:
    """pytest's stand-in entry for a module that failed to collect: `file::dotted.module`."""
    file, _, rest = nodeid.partition("::")
    return file in failed_files and rest == file[:-3].replace("/", ".")


@dataclass
class Derived:
    fail_to_pass: list[str]
    pass_to_pass: list[str]
    flaky: list[str]
    collection_errors: list[dict] = field(default_factory=list)  # [{module, tests_affected}]


def derive(before: list[dict[str, str]], after: list[dict[str, str]],
           before_messages: list[dict[str, str]] | None = None) -> Derived:
    """SWE-bench lists from runs of the tree before and after the fix (each side >= 1 run)."""
    b, b_flaky = stable(before)
    a, a_flaky = stable(after)
    failed_files = collection_failures(before, before_messages or [])
    flaky = b_flaky | a_flaky
    f2p, p2p = [], []
    for name, out in a.items():
        if out != "passed" or name in flaky or is_synthetic(name, failed_files):
            continue
        was = b.get(name, "absent")
        if was == "passed":
            p2p.append(name)
        elif was in ("failing", "absent"):
            f2p.append(name)
    f2p.sort()
    errors = []
    for module in failed_files:
        affected = [t for t in f2p if t.split("::", 1)[0] == module]
        errors.append({"module": module, "tests_affected": len(affected)})
    return Derived(f2p, sorted(p2p), sorted(flaky), errors)
