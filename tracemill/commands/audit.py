"""`tracemill audit OUT_DIR`: the named audit suite (or one audit, or your SQL) over the run's DuckDB views."""

from __future__ import annotations

import argparse
import sys

import yaml

from tracemill import audit
from tracemill.errors import ConfigError

EPILOG = """examples:
  tracemill audit out/sft-mix                                   every audit, as tables
  tracemill audit out/sft-mix --list                            the audits and their parameters
  tracemill audit out/sft-mix --query reconciliation --format json
  tracemill audit out/sft-mix --query limit_what_if --param limit=400
  tracemill audit out/sft-mix --sql "select reason, count(*) from rejections group by 1"
  tracemill audit out/sft-mix --query reconciliation --write-card   also rewrite card.html / card.md
  duckdb out/sft-mix/audit.duckdb                               the same views, no tracemill needed

exit status: 0, or 1 when the reconciliation audit finds a source whose counts do not add up."""


def register(sub) -> None:
    p = sub.add_parser(
        "audit", help="run the named audit queries (or your SQL) over a run's audit.duckdb",
        description="Open OUT_DIR/audit.duckdb (rebuilt when missing or stale: views over the run's Parquet "
                    "shards, rejections, dispositions and manifest) and run the audit suite: reconciliation, "
                    "counts, acceptance and pass@k, rejection reasons and signals, token lengths, duplicate "
                    "clusters, flaky tests, mixture composition, policy staleness, contamination.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("out_dir", metavar="OUT_DIR", help="output folder of a tracemill run (holds manifest.json)")
    what = p.add_mutually_exclusive_group()
    what.add_argument("--list", action="store_true", help="list the audits with their descriptions and parameters")
    what.add_argument("--query", metavar="NAME", action="append", default=[],
                      help="run only this audit (repeatable); see --list")
    what.add_argument("--sql", metavar="SQL", help="run one SQL statement against the views instead")
    p.add_argument("--param", metavar="KEY=VALUE", action="append", default=[],
                   help="audit parameter, e.g. --param limit=400 or --param k=5 (repeatable)")
    p.add_argument("--format", choices=("table", "csv", "json"), default="table",
                   help="output format (default: table)")
    p.add_argument("--write-card", action="store_true",
                   help="also (re)write OUT_DIR/card.html and card.md, e.g. for a run copied from remote storage")
    p.set_defaults(func=run, accepts_beam_args=False)


def parse_params(items: list[str]) -> dict:
    known = {k for a in audit.SUITE for k in a.params}
    out = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(f"--param expects key=value, got {item!r}")
        key, raw = item.split("=", 1)
        if key not in known:
            raise ConfigError(f"unknown audit parameter {key!r} (known: {', '.join(sorted(known))})")
        value = yaml.safe_load(raw)
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise ConfigError(f"--param {key} expects a number, got {raw!r}")
        out[key] = value
    return out


def list_audits(fmt: str) -> str:
    rows = [(a.name, a.title, ", ".join(f"{k}={v}" for k, v in a.params.items()), a.description)
            for a in audit.SUITE]
    result = audit.Result("audits", "Audits", ["name", "title", "params", "description"], rows)
    if fmt == "table":
        width = max(len(a.name) for a in audit.SUITE)
        return "\n".join(f"{a.name:<{width}}  {a.description}"
                         + (f" [{', '.join(f'{k}={v}' for k, v in a.params.items())}]" if a.params else "")
                         for a in audit.SUITE) + "\n"
    return audit.render([result], fmt, single=True)


def run(args, beam_args: list[str]) -> int:
    if args.list:
        sys.stdout.write(list_audits(args.format))
        return 0
    params = parse_params(args.param)
    for name in args.query:
        if name not in audit.AUDITS:
            raise ConfigError(f"unknown audit {name!r}; `tracemill audit OUT_DIR --list` names them")
    con = audit.connect(args.out_dir)
    try:
        if args.sql:
            results = [audit.run_sql(con, args.sql)]
        else:
            names = args.query or list(audit.AUDITS)
            results = [audit.run(con, name, params) for name in names]
    finally:
        con.close()
    sys.stdout.write(audit.render(results, args.format, single=len(results) == 1))
    if args.write_card:
        from tracemill import card  # matplotlib is imported only when a card is asked for

        html_path, _ = card.write(args.out_dir)
        print(f"wrote {html_path} and card.md", file=sys.stderr)
    unreconciled = [row for r in results if r.name == "reconciliation" and not r.skipped
                    for row in r.records() if not row["ok"]]
    if unreconciled:
        print(f"tracemill: reconciliation failed for {', '.join(str(r['source']) for r in unreconciled)}",
              file=sys.stderr)
        return 1
    return 0
