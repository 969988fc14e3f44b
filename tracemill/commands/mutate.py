"""`tracemill mutate`: synthetic bugs in a passing repository become verified mutate-fix tasks."""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

from tracemill.errors import ConfigError


def register(sub) -> None:
    p = sub.add_parser("mutate", help="turn a passing Python repository into mutate-fix tasks (AST bug operators)",
                       description=__doc__)
    p.add_argument("--repo", required=True, type=Path, help="source tree or git work tree (never modified)")
    p.add_argument("--out", required=True, type=Path, help="output dir: tasks.jsonl, rejections.jsonl, manifest.json")
    p.add_argument("--max-tasks", type=int, default=50, help="emit at most this many validated tasks (default 50)")
    p.add_argument("--seed", type=int, default=0, help="seed of the mutant choice (default 0)")
    p.add_argument("--oversample", type=float, default=1.5,
                   help="mutants screened per wanted task (default 1.5); surplus is rejected as over_max_tasks")
    p.add_argument("--repeats", type=int, default=3, help="clean-suite runs used to detect flaky tests (default 3)")
    p.add_argument("--workers", type=int, default=None, help="parallel test runs (default: core count)")
    p.add_argument("--timeout", type=float, default=300.0, help="wall-clock limit per test run, seconds")
    p.add_argument("--mutant-timeout-factor", type=float, default=5.0,
                   help="a buggy tree's test run may take this many times the clean suite's time (default 5)")
    p.add_argument("--mutant-timeout-floor", type=float, default=20.0,
                   help="... but never less than this many seconds (default 20)")
    p.add_argument("--min-pass-ratio", type=float, default=0.9,
                   help="reject the repository when its clean suite passes less than this (default 0.9)")
    p.add_argument("--collection-errors", choices=("keep", "reject"), default="keep",
                   help="tasks whose buggy side fails test collection: keep flagged, or reject (default keep)")
    p.add_argument("--combine", type=int, default=0, metavar="N",
                   help="also make up to N harder tasks per file from 2-3 validated mutants applied together")
    p.add_argument("--combine-size", type=int, default=2, choices=(2, 3), help="mutants per combined task")
    p.add_argument("--no-coverage-map", action="store_true",
                   help="screen every mutant with the full suite instead of the tests that execute its lines")
    p.add_argument("--llm-model", default=None, help="rewrite problem statements with this model (off by default)")
    p.add_argument("--llm-base-url", default=None, help="OpenAI-compatible endpoint for --llm-model")
    p.set_defaults(func=run, accepts_beam_args=True)


def run(args, beam_args) -> int:
    from filters.task import TaskFilter, TaskFilterConfig
    from pipelines import tasks_from_mutations
    from tracemill.runner import prepare_out_dir
    from tracemill.taskgen.combine import MutantCombiner
    from tracemill.taskgen.outputs import OWNED, derived_inputs, write_manifest
    from tracemill.taskgen.repository import mutation_candidates, prepare_repo
    from tracemill.taskgen.statements import LlmStatementWriter, WithLlmStatement
    from tracemill.taskgen.validation import MutantConfirm, MutantScreen, ValidationSettings

    if args.max_tasks is not None and args.max_tasks < 1:
        raise ConfigError("--max-tasks must be >= 1")
    prepare_out_dir(str(args.out), OWNED)
    started = time.monotonic()
    settings = ValidationSettings(repeats=args.repeats, timeout_s=args.timeout, min_pass_ratio=args.min_pass_ratio)
    prepared = prepare_repo(args.repo, settings, with_coverage=not args.no_coverage_map)
    wanted = int(args.max_tasks * args.oversample) if args.max_tasks else None
    candidates, enumerated = mutation_candidates(prepared, seed=args.seed, limit=wanted)
    task_filter = TaskFilter(TaskFilterConfig(collection_error=args.collection_errors))
    if args.llm_model:
        task_filter = WithLlmStatement(task_filter, LlmStatementWriter(args.llm_model, args.llm_base_url))
    # A mutant can loop forever (a removed increment): bound its runs by the clean suite's time.
    slowest = max(prepared.baseline.durations or [args.timeout])
    mutant_timeout = min(args.timeout, max(args.mutant_timeout_floor, args.mutant_timeout_factor * slowest))
    settings = dataclasses.replace(settings, timeout_s=round(mutant_timeout, 1))
    # A screen runs a subset of the suite: twice the full clean suite's time is already generous.
    screen_timeout = min(mutant_timeout, max(args.mutant_timeout_floor / 2, 2 * slowest))
    screen = MutantScreen(prepared.repo_path, prepared.base_commit, prepared.spec, prepared.baseline.passing,
                          prepared.covmap, dataclasses.replace(settings, timeout_s=round(screen_timeout, 1)))
    confirm = MutantConfirm(prepared.repo_path, prepared.base_commit, prepared.spec, prepared.baseline.runs,
                            prepared.task_fields(), settings)
    combiner = None
    if args.combine > 0:
        combiner = MutantCombiner(prepared.repo_path, prepared.base_commit, prepared.repo.replace("/", "__"),
                                  {c["mutant_id"]: c["edits"] for c in candidates}, size=args.combine_size,
                                  per_file=args.combine, seed=args.seed)
    t_pipe = time.monotonic()
    tasks_from_mutations.run(candidates, out_dir=args.out, beam_args=beam_args, screen=screen, confirm=confirm,
                             task_filter=task_filter, max_tasks=args.max_tasks, workers=args.workers,
                             combiner=combiner)
    wall = time.monotonic() - started
    config = {"max_tasks": args.max_tasks, "seed": args.seed, "oversample": args.oversample,
              "repeats": args.repeats, "timeout_s": args.timeout, "min_pass_ratio": args.min_pass_ratio,
              "collection_errors": args.collection_errors, "llm_model": args.llm_model,
              "mutant_timeout_factor": args.mutant_timeout_factor, "mutant_timeout_floor": args.mutant_timeout_floor,
              "coverage_map": prepared.covmap is not None,
              "combine": args.combine, "combine_size": args.combine_size}
    manifest = write_manifest(
        args.out, pipeline="tasks_from_mutations", config=config, seed=args.seed,
        input_count=len(candidates) + derived_inputs(args.out),
        inputs=[{"path": prepared.source_path, "kind": "source_tree", "sha256": prepared.base_commit,
                 "records": len(candidates)}],
        metrics={"mutants_enumerated": enumerated, "flaky_tests": prepared.baseline.flaky,
                 "clean_run": prepared.spec.clean_run | {"duration_s": None}, "env": prepared.spec.to_json()
                 | {"clean_run": None}})
    stats = {"wall_s": round(wall, 2), "pipeline_s": round(time.monotonic() - t_pipe, 2), **prepared.timings,
             "tasks": manifest["counts"]["total"]["emitted"], "candidates": len(candidates)}
    (args.out / "run_info.json").write_text(json.dumps(stats, indent=2, sort_keys=True) + "\n")
    total = manifest["counts"]["total"]
    print(f"mutate: {total['input']} candidates -> {total['emitted']} tasks, {total['filtered']} filtered, "
          f"{total['deduplicated']} duplicates, {total['dead_lettered']} dead-lettered ({wall:.0f}s) -> {args.out}")
    return 0 if manifest["counts"]["reconciled"] else 1
