"""`tracemill traces`: trace Python snippets or a repository's test calls into CWM-format training data."""

from __future__ import annotations

import dataclasses
import sys
import time

from tracemill.config import to_dict
from tracemill.errors import ConfigError
from tracemill.runner import (
    enable_progress,
    final_status,
    pipeline_options,
    prepare_out_dir,
    run_pipeline,
    write_run_info,
)

OWNED = ["traces.jsonl", "traces.parquet", "sft.jsonl", "sft.parquet", "rejections.jsonl", "manifest.json",
         "run_info.json"]
SAMPLE_SNIPPETS = "@sample/snippets.jsonl"


def register(sub) -> None:
    p = sub.add_parser(
        "traces", help="Python programs -> sandboxed CWM-format execution traces and SFT examples",
        description="Trace Python entry functions line by line in a bubblewrap sandbox (step, time and memory "
                    "limits per trace), render each trace in CWM's format, deduplicate, and build "
                    "trace-prediction and neural-debugger QA examples. Writes DIR/traces.jsonl, DIR/sft.jsonl "
                    "(each also as .parquet), DIR/rejections.jsonl and DIR/manifest.json.")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--snippets", metavar="FILE", action="append", default=[],
                     help="JSONL of {id, source, entry, inputs: [{args, kwargs}]} (repeatable; default: the "
                          f"bundled {SAMPLE_SNIPPETS})")
    src.add_argument("--repo", metavar="PATH", action="append", default=[],
                     help="trace the calls a repository's pytest suite makes into its own functions "
                          "('@sample' = the bundled textkit project; repeatable)")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder")
    p.add_argument("--max-steps", type=int, default=None, help="recorded events per trace (default 2000)")
    p.add_argument("--time-limit", type=float, default=None, metavar="SECONDS",
                   help="wall-clock limit per trace (default 2.0)")
    p.add_argument("--memory-mb", type=int, default=None, help="address-space limit of each trace's process (default 512)")
    p.add_argument("--batch-size", type=int, default=None, help="traces per sandbox process (default 64)")
    p.add_argument("--per-function", type=int, default=None,
                   help="--repo: traces per project function (default 3)")
    p.add_argument("--seed", type=int, default=None, help="seed for choosing debugger questions (default 0)")
    p.add_argument("--no-near-dedup", action="store_true", help="skip MinHash near-duplicate removal")
    p.add_argument("--near-dedup-threshold", type=float, default=None, metavar="JACCARD",
                   help="similarity of CWM texts at which traces are near-duplicates (default 0.95)")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.set_defaults(func=run, accepts_beam_args=True)


def config_from_args(args):
    from tracemill.trace.settings import TracesConfig

    cfg = TracesConfig()
    trace = {k: v for k, v in (("max_steps", args.max_steps), ("time_s", args.time_limit),
                               ("memory_mb", args.memory_mb)) if v is not None}
    cfg = dataclasses.replace(cfg, trace=dataclasses.replace(cfg.trace, **trace))
    if args.seed is not None:
        cfg = dataclasses.replace(cfg, examples=dataclasses.replace(cfg.examples, seed=args.seed))
    if args.per_function is not None:
        cfg = dataclasses.replace(cfg, repo=dataclasses.replace(cfg.repo, per_function=args.per_function))
    if args.batch_size is not None:
        cfg = dataclasses.replace(cfg, batch_size=args.batch_size)
    if args.no_near_dedup:
        cfg = dataclasses.replace(cfg, dedup=dataclasses.replace(cfg.dedup, near=False))
    if args.near_dedup_threshold is not None:
        cfg = dataclasses.replace(cfg, dedup=dataclasses.replace(cfg.dedup, threshold=args.near_dedup_threshold))
    return cfg.validate()


def run(args, beam_args: list[str]) -> int:
    from pipelines import traces as pipeline
    from tracemill.manifest import describe_inputs
    from tracemill.readers import resolve_input
    from tracemill.trace import repo as repo_source
    from tracemill.trace.output import read_manifest, summary

    cfg = config_from_args(args)
    repo_paths = {repo: repo_source.resolve_repo(repo)[1] for repo in args.repo}  # fail before touching --out
    out = args.out.rstrip("/")
    prepare_out_dir(out, OWNED)
    if not args.quiet:
        enable_progress()
        print(f"tracemill traces -> {out}", file=sys.stderr)
    started = time.time()
    config = to_dict(cfg)
    snippets, repos = (), tuple(args.repo)
    if repos:
        # `records` (the calls captured) is filled in by the pipeline once the tests have run.
        inputs = [{"path": repo, "kind": "repo", "sha256": repo_source.tree_digest(path), "records": 0}
                  for repo, path in sorted(repo_paths.items())]
        config["source"] = {"repos": sorted(repos)}
    else:
        snippets = tuple(args.snippets or [SAMPLE_SNIPPETS])
        for path in snippets:
            try:
                open(resolve_input(path), "rb").close()
            except OSError as exc:
                raise ConfigError(f"--snippets {path}: {exc.strerror}") from exc
        inputs = describe_inputs({"snippets": snippets})
        config["source"] = {"snippets": list(snippets)}
    base = {"config": config, "inputs": inputs, "seed": cfg.examples.seed, "metrics": {}}
    seconds = run_pipeline(lambda p: pipeline.build(p, cfg, out, snippets=snippets, repos=repos,
                                                    manifest_base=base), pipeline_options(beam_args))
    manifest = read_manifest(out)
    write_run_info(out, {"started_at": started, "pipeline_seconds": round(seconds, 3),
                         "total_seconds": round(time.time() - started, 3), "beam_args": beam_args})
    print(summary(manifest), file=sys.stderr)
    return final_status(manifest, cfg.max_dead_letter_ratio)
