"""`tracemill dedup`: exact and near-duplicate removal on any JSONL with an `id` field."""

from __future__ import annotations

import json
import sys
from collections import Counter

from pipelines import dedup as pipeline
from tracemill.beam.dedup import VERIFY_MODES, concat_parts
from tracemill.errors import ConfigError
from tracemill.readers import count_records, iter_lines
from tracemill.runner import pipeline_options, prepare_out_dir, run_pipeline, write_run_info

OWNED = ["kept.jsonl", "rejections.jsonl", "flags.jsonl", "summary.json", "run_info.json"]


def register(sub) -> None:
    p = sub.add_parser(
        "dedup", help="remove exact and near-duplicate records (MinHash LSH) from a JSONL file",
        description="Keep one record per cluster of near-duplicates (Jaccard similarity of token 5-gram "
                    "shingles >= --threshold): the smallest id. Writes DIR/kept.jsonl (kept records) and "
                    "DIR/rejections.jsonl (one row per removed or unreadable line, with duplicate_of and "
                    "similarity); together they cover every input line once.")
    p.add_argument("--input", required=True, metavar="FILE", help="JSONL file (gzip, gs:// and s3:// allowed)")
    p.add_argument("--field", required=True, metavar="NAME",
                   help="field to compare; a non-string value is compared as canonical JSON")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder")
    p.add_argument("--id-field", default="id", metavar="NAME",
                   help="field holding each record's unique id (default: id); the smallest id is kept")
    p.add_argument("--threshold", type=float, default=0.8, metavar="T",
                   help="Jaccard similarity at or above which records are duplicates (default 0.8)")
    p.add_argument("--ngram", type=int, default=5, metavar="N", help="tokens per shingle (default 5)")
    p.add_argument("--num-perm", type=int, default=128, metavar="K", help="MinHash permutations (default 128)")
    p.add_argument("--seed", type=int, default=1, help="MinHash seed (default 1)")
    p.add_argument("--verify", choices=VERIFY_MODES, default="exact",
                   help="verify LSH candidates by exact Jaccard of shingle sets (default) or by signatures")
    p.add_argument("--no-exact", action="store_true", help="skip the exact-duplicate pass")
    p.set_defaults(func=run, accepts_beam_args=True)


def finish(out: str, names: list[str], started_lines: int) -> dict:
    """Join the sorted parts into single files and summarise the outcome from the files themselves."""
    counts = {name: concat_parts(out, name, pipeline.SHARDS) for name in names}
    reasons = Counter()
    for _, line in iter_lines(f"{out}/rejections.jsonl"):
        row = json.loads(line)
        reasons[f"{row['disposition']}:{row['reason']}"] += 1
    summary = {"input_lines": started_lines, "kept": counts["kept"], "rejected": counts["rejections"],
               "by_reason": dict(sorted(reasons.items())),
               "reconciled": counts["kept"] + counts["rejections"] == started_lines}
    if "flags" in counts:
        summary["flagged"] = counts["flags"]
    return summary


def report(out: str, summary: dict) -> int:
    if "://" not in out:
        with open(f"{out}/summary.json", "w", encoding="utf-8") as fh:
            json.dump(summary, fh, indent=2, sort_keys=True)
            fh.write("\n")
    print(json.dumps(summary, sort_keys=True), file=sys.stderr)
    if not summary["reconciled"]:
        print("tracemill: error: kept + rejections do not cover every input line", file=sys.stderr)
        return 3
    return 0


def run(args, beam_args: list[str]) -> int:
    if not 0 < args.threshold <= 1:
        raise ConfigError(f"--threshold must be in (0, 1], got {args.threshold}")
    if args.ngram < 1 or args.num_perm < 8:
        raise ConfigError("--ngram must be >= 1 and --num-perm >= 8")
    out = args.out.rstrip("/")
    prepare_out_dir(out, OWNED)
    lines = count_records(args.input)
    seconds = run_pipeline(
        lambda p: pipeline.build_dedup(p, args.input, args.field, out, threshold=args.threshold,
                                       num_perm=args.num_perm, ngram=args.ngram, seed=args.seed,
                                       verify=args.verify, exact=not args.no_exact,
                                       id_field=args.id_field),
        pipeline_options(beam_args))
    write_run_info(out, {"command": "dedup", "pipeline_seconds": round(seconds, 3), "beam_args": beam_args})
    return report(out, finish(out, ["kept", "rejections"], lines))
