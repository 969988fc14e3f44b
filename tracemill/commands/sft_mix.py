"""`tracemill sft-mix`: the default end-to-end pipeline on the bundled sample (or your config)."""

from __future__ import annotations

import sys
import time

from tracemill.config import load_config
from tracemill.runner import (
    enable_progress,
    final_status,
    pipeline_options,
    prepare_out_dir,
    run_pipeline,
    summary_table,
    write_run_info,
)

OUTPUT_FOLDERS = ["tasks", "trajectories", "test_runs", "sft", "rl", "rejections", "dispositions", "timings"]
OWNED = [*OUTPUT_FOLDERS, "manifest.json", "run_info.json", "audit.duckdb", "card.html", "card.md", "card_plots"]


def add_mix_arguments(p, default_out: str) -> None:
    p.add_argument("--config", metavar="FILE", help="YAML preset overriding the defaults")
    p.add_argument("--set", metavar="KEY=VALUE", action="append", default=[], dest="overrides",
                   help="override one config value, e.g. --set mix.sft.token_budget=5000 (repeatable)")
    p.add_argument("--out", default=default_out, metavar="DIR", help=f"output folder (default: {default_out})")
    p.add_argument("--quiet", action="store_true", help="no progress lines")


def register(sub) -> None:
    p = sub.add_parser("sft-mix", help="tasks + rollouts -> graded, deduplicated SFT and RL mixtures",
                       description="Read tasks and recorded rollouts, validate, filter, deduplicate, grade every "
                                   "rollout by running its tests in a bubblewrap sandbox, rejection-sample into "
                                   "SFT/RL examples, mix by weights and token budgets, and write Parquet/JSONL "
                                   "shards, a manifest, audit.duckdb and a data card. Defaults run the bundled "
                                   "sample.")
    add_mix_arguments(p, "out/sft-mix")
    p.set_defaults(func=run, accepts_beam_args=True, pipeline_name="sft-mix", preset=())


def run(args, beam_args: list[str]) -> int:
    # Heavy imports (Beam, datasketch, matplotlib) only when the command runs, so `--help` is instant.
    from pipelines import sft_mix
    from tracemill import audit_db, card
    from tracemill.manifest import build_manifest, describe_inputs, write_json

    cfg = load_config(args.config, [*args.preset, *args.overrides])
    out = args.out.rstrip("/")
    prepare_out_dir(out, OWNED)
    if not args.quiet:
        enable_progress()
        print(f"tracemill {args.pipeline_name} -> {out}", file=sys.stderr)
    started = time.time()
    inputs = describe_inputs({"task": cfg.inputs.tasks, "trajectory": cfg.inputs.rollouts,
                              "sft_example": cfg.inputs.sft_examples})
    seconds = run_pipeline(lambda p: sft_mix.build(p, cfg, out), pipeline_options(beam_args))
    deterministic = [n for n in sft_mix.OUTPUTS if n not in sft_mix.MEASUREMENTS]
    manifest = build_manifest(args.pipeline_name, cfg, out, inputs, deterministic)
    write_json(out, "manifest.json", manifest)
    if "://" not in out:
        audit_db.create(out)
        card.write(out, manifest)
    write_run_info(out, {"started_at": started, "pipeline_seconds": round(seconds, 3),
                         "total_seconds": round(time.time() - started, 3), "beam_args": beam_args})
    print(summary_table(manifest), file=sys.stderr)
    return final_status(manifest, cfg.filters.max_dead_letter_ratio, "filters.max_dead_letter_ratio")
