"""`tracemill rollouts`: agent rollouts in, canonical trajectories out.

Sub-commands:
  import    read logs real agents wrote (SWE-agent, mini-swe-agent, OpenHands, OpenAI-chat JSONL),
            join harness reports/predictions by instance id, write DIR/trajectories.jsonl,
            DIR/rejections.jsonl, DIR/dispositions.jsonl and DIR/manifest.json.

Extension hook: `generate` lives in its own module. If `tracemill/commands/_rollouts_generate.py`
exists, `register_subcommands` imports it and calls its `register(rollouts_subparsers)`, which adds
`generate` next to `import` with `set_defaults(func=..., accepts_beam_args=...)` as any command does.
The leading underscore keeps `tracemill.cli` discovery from registering it as a top-level command.

Exit status of `import`: 0 ok, 2 usage error, 3 the counts do not reconcile or more records were
dead-lettered than --max-dead-letter-ratio allows (the run's outputs are still written).
"""

from __future__ import annotations

import collections
import dataclasses
import importlib
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from filters.trajectory import SECRET_POLICIES, TrajectoryLimits
from tracemill import __version__
from tracemill.errors import ConfigError
from tracemill.records import ORIGIN, stable_hash
from tracemill.reports import CONFLICT_POLICIES, JoinSettings, load_instances, read_entries, regrade_entries
from tracemill.runner import final_status, pipeline_options, prepare_out_dir, run_pipeline
from tracemill.sources.agent_logs import FORMATS, count_records

if TYPE_CHECKING:
    from pipelines import rollouts_import

GENERATE_HOOK = "tracemill.commands._rollouts_generate"
OWNED = ["trajectories.jsonl", "rejections.jsonl", "dispositions.jsonl", "manifest.json", "run_info.json"]
LOG_SUFFIXES = (".traj", ".json", ".jsonl")


def register(subparsers) -> None:
    p = subparsers.add_parser("rollouts", help="import (and generate) agent rollouts as canonical trajectories",
                              description="Agent rollouts -> canonical `trajectory` records.")
    sub = p.add_subparsers(dest="rollouts_command", metavar="SUBCOMMAND")
    register_subcommands(sub)
    p.set_defaults(func=lambda args, beam_args: _usage(p), accepts_beam_args=False)


def _usage(parser) -> int:
    parser.print_help(sys.stderr)
    return 2


def register_subcommands(sub) -> None:
    _register_import(sub)
    try:
        generate = importlib.import_module(GENERATE_HOOK)
    except ModuleNotFoundError as exc:
        if exc.name != GENERATE_HOOK:
            raise
        return
    generate.register(sub)


def _register_import(sub) -> None:
    p = sub.add_parser(
        "import", help="convert real agent logs to trajectories and join harness reports",
        description="Read SWE-agent .traj (0.x, 1.x), mini-swe-agent, OpenHands (events, evaluation output) "
                    "and OpenAI-chat JSONL logs; write DIR/trajectories.jsonl (schema trajectory), "
                    "DIR/rejections.jsonl, DIR/dispositions.jsonl and DIR/manifest.json. A file that cannot "
                    "be read is dead-lettered with its file, line and field.")
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="log files or folders (searched for *.traj, *.json, "
                                                              "*.jsonl)")
    p.add_argument("--format", default="auto", choices=["auto", *FORMATS], help="input format (default: detect "
                                                                                  "per record)")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder")
    p.add_argument("--reports", nargs="+", default=[], metavar="FILE",
                   help="SWE-bench/SWE-smith report.json files, run summaries or predictions files, joined by "
                        "instance_id")
    p.add_argument("--test-logs", nargs="+", default=[], metavar="DIR",
                   help="captured harness logs (<instance_id>/test_output.txt under DIR) to grade with tracemill's "
                        "own SWE-bench v5 grader; needs --instances")
    p.add_argument("--instances", nargs="+", default=[], metavar="FILE",
                   help="task instances (JSON/JSONL) with FAIL_TO_PASS/PASS_TO_PASS, for --test-logs")
    p.add_argument("--on-apply-conflict", default="not-resolved", choices=CONFLICT_POLICIES,
                   help="label for a report claiming resolved although its patch did not apply "
                        "(default: not-resolved, SWE-bench's rule)")
    p.add_argument("--filter", action="store_true", help="apply the trajectory filters (filters/trajectory.py)")
    p.add_argument("--max-turns", type=int, default=TrajectoryLimits.max_turns, help="filter: assistant turns")
    p.add_argument("--max-tokens", type=int, default=TrajectoryLimits.max_tokens, help="filter: approximate tokens")
    p.add_argument("--max-repeated-actions", type=int, default=TrajectoryLimits.max_repeated_actions,
                   help="filter: longest run of identical consecutive tool calls")
    p.add_argument("--max-tool-error-rate", type=float, default=TrajectoryLimits.max_tool_error_rate,
                   help="filter: failing observations / observations")
    p.add_argument("--allow-empty-patch", action="store_true", help="filter: keep rollouts without a patch")
    p.add_argument("--allow-test-edits", action="store_true", help="filter: keep patches that touch test files")
    p.add_argument("--secrets", default=TrajectoryLimits.secrets, choices=SECRET_POLICIES,
                   help="filter: scrub, drop or ignore leaked credentials")
    p.add_argument("--max-policy-staleness", type=int, default=None,
                   help="filter: policy_version_end - policy_version_begin")
    p.add_argument("--max-dead-letter-ratio", type=float, default=0.5,
                   help="exit 3 when more than this share of records was dead-lettered")
    p.set_defaults(func=run_import, accepts_beam_args=True)


def expand_inputs(paths: list[str]) -> list[str]:
    """Files as given; folders searched recursively for agent-log files, in sorted order."""
    out = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            out.extend(str(f) for f in sorted(path.rglob("*")) if f.is_file() and f.name.endswith(LOG_SUFFIXES))
        elif path.is_file():
            out.append(str(path))
        else:
            raise ConfigError(f"input {raw} does not exist")
    if not out:
        raise ConfigError("no input files found")
    return sorted(dict.fromkeys(out))


def limits_from(args) -> TrajectoryLimits | None:
    if not args.filter:
        return None
    return TrajectoryLimits(max_turns=args.max_turns, max_tokens=args.max_tokens,
                            max_repeated_actions=args.max_repeated_actions,
                            max_tool_error_rate=args.max_tool_error_rate, require_patch=not args.allow_empty_patch,
                            allow_test_file_edits=args.allow_test_edits, secrets=args.secrets,
                            max_policy_staleness=args.max_policy_staleness)


def run_import(args, beam_args) -> int:
    from pipelines import rollouts_import  # lazy: Beam loads only when a command runs
    from tracemill.manifest import write_json
    reports = sorted(dict.fromkeys(args.reports))
    # A file named as a report is not also a log (a folder of logs often holds its predictions file).
    as_reports = {str(Path(r).resolve()) for r in reports}
    inputs = [p for p in expand_inputs(args.inputs) if str(Path(p).resolve()) not in as_reports]
    if not inputs:
        raise ConfigError("no agent-log inputs left after removing the --reports files")
    entries = [e for path in reports for e in read_entries(path)]
    test_logs = sorted(str(f) for d in args.test_logs for f in Path(d).rglob("test_output.txt"))
    if args.test_logs and not test_logs:
        raise ConfigError("no test_output.txt under --test-logs")
    if test_logs:
        if not args.instances:
            raise ConfigError("--test-logs needs --instances (the FAIL_TO_PASS/PASS_TO_PASS to grade against)")
        entries += regrade_entries(test_logs, load_instances(args.instances))
    reports = sorted({*reports, *test_logs})
    entries = tuple(entries)
    settings = rollouts_import.ImportSettings(
        inputs=tuple(inputs), fmt=args.format, report_entries=entries,
        join=JoinSettings(on_apply_conflict=args.on_apply_conflict), limits=limits_from(args))
    out = args.out.rstrip("/")
    prepare_out_dir(out, OWNED)
    run_pipeline(lambda p: rollouts_import.build(p, settings, out), pipeline_options(beam_args))
    manifest = build_manifest(settings, inputs, reports, out)
    write_json(out, "manifest.json", manifest)
    print(summary(manifest), file=sys.stderr)
    return final_status(manifest, args.max_dead_letter_ratio, "--max-dead-letter-ratio",
                        f"; see {out}/rejections.jsonl")


def _read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def settings_dict(settings: rollouts_import.ImportSettings) -> dict:
    return {"format": settings.fmt, "join": dataclasses.asdict(settings.join),
            "filters": dataclasses.asdict(settings.limits) if settings.limits else None}


def build_manifest(settings: rollouts_import.ImportSettings, inputs: list[str], reports: list[str], out: str) -> dict:
    from tracemill.manifest import reconcile, sha256_of

    described = [{"path": p, "kind": "trajectory", "sha256": sha256_of(p)[0], "records": count_records(p)}
                 for p in inputs]
    per_report = collections.Counter(e[ORIGIN]["source"] for e in settings.report_entries)
    described += [{"path": p, "kind": "report", "sha256": sha256_of(p)[0], "records": per_report.get(p, 0)}
                  for p in reports]
    ledger = _read_jsonl(Path(out, "dispositions.jsonl"))
    trajectories = _read_jsonl(Path(out, "trajectories.jsonl"))
    rejections = _read_jsonl(Path(out, "rejections.jsonl"))
    config = settings_dict(settings)
    join_status = collections.Counter(t["metadata"].get("report_join", {}).get("status") for t in trajectories)
    manifest = {
        "pipeline": "rollouts-import",
        "tracemill_version": __version__,
        "config": config,
        "config_hash": stable_hash(config),
        "seed": None,
        "inputs": described,
        "counts": reconcile(described, ledger),
        "metrics": {
            "source_formats": dict(sorted(collections.Counter(t["source_format"] for t in trajectories).items())),
            "resolved": {str(k).lower(): v for k, v in sorted(
                collections.Counter(t["resolved"] for t in trajectories).items(), key=lambda kv: str(kv[0]))},
            "report_join": {
                "by_status": dict(sorted((str(k), v) for k, v in join_status.items())),
                "trajectories_without_report": sorted(
                    t["instance_id"] for t in trajectories
                    if t["metadata"].get("report_join", {}).get("status") == "no_report"),
                "reports_without_trajectory": sorted({r["record_id"] for r in rejections
                                                      if r["reason"] == "report_without_trajectory"}),
                "ambiguous": sorted({r["record_id"] for r in rejections if r["reason"] == "ambiguous_report"}),
                "apply_conflicts": sorted(t["instance_id"] for t in trajectories
                                          if t["metadata"].get("report_join", {}).get("rule") in
                                          ("patch_not_applied", "report_inconsistent", "tests_status_trusted")),
            },
        },
        "outputs": [{"path": name, "sha256": sha256_of(str(Path(out, name)))[0],
                     "rows": len(_read_jsonl(Path(out, name))), "bytes": Path(out, name).stat().st_size}
                    for name in ("trajectories.jsonl", "rejections.jsonl", "dispositions.jsonl")],
    }
    return manifest


def summary(manifest: dict) -> str:
    t = manifest["counts"]["total"]
    join = manifest["metrics"]["report_join"]
    lines = ["", "  tracemill rollouts import",
             f"  input records   {t['input']:>8}", f"  emitted         {t['emitted']:>8}",
             f"  filtered        {t['filtered']:>8}", f"  deduplicated    {t['deduplicated']:>8}",
             f"  dead-lettered   {t['dead_lettered']:>8}",
             f"  resolved        {manifest['metrics']['resolved']}",
             f"  without report  {len(join['trajectories_without_report']):>8}",
             f"  unmatched ids   {len(join['reports_without_trajectory']):>8}",
             f"  counts {'reconciled' if manifest['counts']['reconciled'] else 'NOT RECONCILED'}", ""]
    return "\n".join(lines)
