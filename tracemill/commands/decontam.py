"""`tracemill decontam`: drop or flag records that overlap evaluation sets (SWE-bench, HumanEval, deny list)."""

from __future__ import annotations

from pipelines import dedup as pipeline
from tracemill.beam.dedup import DECONTAM_MODES
from tracemill.commands.dedup import finish, report
from tracemill.dedup.decontamination import DecontaminationIndex, DecontamSources
from tracemill.errors import ConfigError
from tracemill.readers import count_records
from tracemill.runner import pipeline_options, prepare_out_dir, run_pipeline, write_run_info

OWNED = ["kept.jsonl", "rejections.jsonl", "flags.jsonl", "summary.json", "run_info.json"]


def register(sub) -> None:
    p = sub.add_parser(
        "decontam", help="drop or flag records overlapping evaluation sets (SWE-bench, HumanEval, deny list)",
        description="Check each record's --field texts against evaluation items: a repo or instance id on the "
                    "deny list (or an evaluation instance's own id), a near-duplicate (exact Jaccard of 5-gram "
                    "shingles >= --jaccard), or an n-gram overlap (share of an item's token --ngram-grams found "
                    "in the record >= --min-containment). Rejections name the matched item in duplicate_of. "
                    "Writes DIR/kept.jsonl and DIR/rejections.jsonl (and DIR/flags.jsonl with --mode flag).")
    p.add_argument("--input", required=True, metavar="FILE", help="JSONL file with an `id` field")
    p.add_argument("--field", required=True, action="append", metavar="NAME",
                   help="field holding text to check, e.g. problem_statement or patch (repeatable)")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder")
    p.add_argument("--id-field", default="id", metavar="NAME", help="field holding each record's id (default: id)")
    p.add_argument("--swe-bench", action="append", default=[], metavar="FILE",
                   help="SWE-bench-style instances (JSON array or JSONL; repeatable)")
    p.add_argument("--humaneval", action="append", default=[], metavar="FILE",
                   help="HumanEval-style prompts with task_id, prompt, canonical_solution (repeatable)")
    p.add_argument("--deny-list", action="append", default=[], metavar="FILE",
                   help="lines of repo:OWNER/NAME or instance:ID (bare entries allowed; repeatable)")
    p.add_argument("--mode", choices=DECONTAM_MODES, default="drop",
                   help="drop matches (default) or keep them and list them in flags.jsonl")
    p.add_argument("--ngram", type=int, default=13, metavar="N", help="tokens per overlap n-gram (default 13)")
    p.add_argument("--min-containment", type=float, default=0.5, metavar="C",
                   help="share of an item's n-grams that must appear in a record (default 0.5)")
    p.add_argument("--jaccard", type=float, default=0.8, metavar="J",
                   help="shingle Jaccard similarity that makes a near-duplicate (default 0.8)")
    p.set_defaults(func=run, accepts_beam_args=True)


def run(args, beam_args: list[str]) -> int:
    sources = DecontamSources(swe_bench=tuple(args.swe_bench), humaneval=tuple(args.humaneval),
                              deny_lists=tuple(args.deny_list), ngram=args.ngram,
                              min_containment=args.min_containment, jaccard=args.jaccard)
    if not (0 < args.min_containment <= 1 and 0 < args.jaccard <= 1):
        raise ConfigError("--min-containment and --jaccard must be in (0, 1]")
    DecontaminationIndex.from_sources(sources)  # fail fast, with one line, on unreadable evaluation files
    out = args.out.rstrip("/")
    prepare_out_dir(out, OWNED)
    lines = count_records(args.input)
    seconds = run_pipeline(lambda p: pipeline.build_decontam(p, args.input, args.field, out, sources, args.mode,
                                                           id_field=args.id_field),
                           pipeline_options(beam_args))
    write_run_info(out, {"command": "decontam", "pipeline_seconds": round(seconds, 3), "beam_args": beam_args})
    names = ["kept", "rejections"] + (["flags"] if args.mode == "flag" else [])
    return report(out, finish(out, names, lines))
