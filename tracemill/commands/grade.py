"""`tracemill grade`: read a captured harness test log and print the SWE-bench-style report.

Exit status: 0 resolved, 1 graded but not resolved, 3 the log cannot be graded (invalid evidence,
environment error), 2 usage/config errors (via ConfigError).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from tracemill.errors import ConfigError
from tracemill.verify import harness_report
from tracemill.verify.log_parsers import PARSERS, parse_log


def load_instance(path: str, instance_id: str | None = None) -> dict:
    """One instance from a JSON object, a JSON list or a JSONL file (pick with `instance_id`)."""
    from tracemill.readers import read_json_records  # lazy: Beam's file systems load only when grading

    rows = [r for r in read_json_records(path) if isinstance(r, dict)]
    if instance_id:
        rows = [r for r in rows if r.get("instance_id") == instance_id]
    if len(rows) != 1:
        raise ConfigError(f"{path}: expected one instance, found {len(rows)} (use --instance-id)")
    inst = rows[0]
    for key in ("instance_id", "FAIL_TO_PASS", "PASS_TO_PASS"):
        if key not in inst:
            raise ConfigError(f"{path}: instance lacks field {key!r}")
    return inst


def _applied(value: str) -> bool | None:
    return {"auto": None, "yes": True, "no": False}[value]


def _read_report(path: str) -> dict:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"cannot read report {path}: {exc}") from exc


def run(args, beam_args) -> int:
    inst = load_instance(args.instance, args.instance_id)
    try:
        log = Path(args.log).read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise ConfigError(f"cannot read log {args.log}: {exc.strerror}") from exc
    theirs = None
    if args.compare:
        theirs = _read_report(args.compare)
        theirs = theirs.get(inst["instance_id"], theirs)  # SWE-bench nests by id, SWE-smith does not
    # Where the apply status comes from: the flag, else the log's harness markers, else the compared
    # report (a SWE-smith test_output.txt records no apply step), else assume applied.
    applied, source = _applied(args.patch_applied), "flag"
    if applied is None:
        parsed = parse_log(log, args.format)
        if parsed.apply_failed or parsed.apply_passed:
            applied, source = not parsed.apply_failed, "log"
        elif theirs is not None and isinstance(theirs.get("patch_successfully_applied"), bool):
            applied, source = theirs["patch_successfully_applied"], "compared report"
        else:
            applied, source = True, "assumed (tests ran)"
    verdict = harness_report.verdict_from_log(inst, log, fmt=args.format, exit_code=args.exit_code,
                                              patch_applied=applied)
    report = verdict.report()
    out = {"report": report, "apply_status_from": source}
    if theirs is not None:
        out["differences"] = harness_report.compare_reports(report[verdict.instance_id], theirs)
    json.dump(out, sys.stdout, indent=2, sort_keys=True)
    sys.stdout.write("\n")
    if not verdict.valid:
        print(f"tracemill grade: {verdict.outcome}: {verdict.invalid_reason}", file=sys.stderr)
        return 3
    return 0 if verdict.resolved else 1


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "grade",
        help="grade a captured harness test log against an instance's FAIL_TO_PASS/PASS_TO_PASS",
        description="Parse a harness test log into per-test statuses and print the SWE-bench-style "
                    "report (SWE-bench v5 rules). Exit 0 resolved, 1 not resolved, 3 ungradable log.",
    )
    p.add_argument("--instance", required=True, metavar="FILE",
                   help="instance JSON/JSONL with instance_id, FAIL_TO_PASS, PASS_TO_PASS")
    p.add_argument("--instance-id", help="which instance, when FILE holds several")
    p.add_argument("--log", required=True, metavar="TEST_OUTPUT", help="captured test output (test_output.txt)")
    p.add_argument("--format", default="pytest", choices=sorted(PARSERS), help="log format (default: pytest)")
    p.add_argument("--exit-code", type=int, default=None,
                   help="the test command's exit code, when the harness recorded it")
    p.add_argument("--patch-applied", default="auto", choices=("auto", "yes", "no"),
                   help="whether the patch applied; auto reads the log's harness markers, else the --compare "
                        "report's patch_successfully_applied, else assumes it applied")
    p.add_argument("--compare", metavar="REPORT",
                   help="the harness's report.json: list every difference from it (and take its apply status "
                        "when the log records none)")
    p.set_defaults(func=run, accepts_beam_args=False)
