"""Run every `benchmarks/bench_*.py` module and write results/report.json and results/report.md.

A module joins the suite by existing: it exposes `run(size: str) -> dict` returning
{"title": str, "rows": [benchmarks.common.row(...), ...], "notes": [str, ...]} (and optionally
"extra": {...} for figures that are not baseline/candidate pairs).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import pkgutil
import platform
import sys
import time
import traceback
from pathlib import Path

import benchmarks
from benchmarks.common import RESULTS, SIZES


def discover() -> list[str]:
    """Names of the benchmark modules, in a stable order."""
    return sorted(m.name for m in pkgutil.iter_modules(benchmarks.__path__) if m.name.startswith("bench_"))


def environment(size: str) -> dict:
    import apache_beam
    import datasketch
    import numpy

    return {"size": size, "python": platform.python_version(), "platform": platform.platform(),
            "cpus": os.cpu_count(), "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
            "apache_beam": apache_beam.__version__, "datasketch": datasketch.__version__,
            "numpy": numpy.__version__, "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}


def _fmt_rate(m: dict) -> str:
    return f"{m['per_cpu_s']:,.0f}"


def markdown(report: dict) -> str:
    env = report["environment"]
    out = ["# tracemill benchmarks", "",
           (f"size `{env['size']}` · Python {env['python']} · Beam {env['apache_beam']} · datasketch "
           f"{env['datasketch']} · {env['cpus']} CPUs · load at start {env['load_average_at_start']} · "
           f"{env['started_at']} · total {report['seconds']:.0f} s"), "",
           ("Medians over the repeats shown. Rates are per CPU second of the benchmark process (all threads), "
           "i.e. per core; ratios compare candidate and baseline measured side by side, interleaved, in this "
           "run (cost ratios: candidate CPU time / baseline; speed ratios: candidate rate / baseline). "
           "Wall-clock ratios are given too; the machine is shared, so wall times are noisier."), ""]
    for name, res in report["benchmarks"].items():
        out.append(f"## {res.get('title', name)} (`{name}`, {res.get('seconds', 0):.0f} s)")
        out.append("")
        if "error" in res:
            out += ["```", res["error"].strip(), "```", ""]
            continue
        if res.get("rows"):
            out.append("| case | n | baseline | per CPU-s | candidate | per CPU-s | ratio | wall ratio | target | met |")
            out.append("|---|---:|---|---:|---|---:|---:|---:|---|---|")
            for r in res["rows"]:
                b, c = r["baseline"], r["candidate"]
                met = {True: "yes", False: "**no**", None: ""}[r["met"]]
                out.append(f"| {r['case']} | {c['n']:,} | {b['name']} | {_fmt_rate(b)} {r['unit']} | {c['name']} | "
                           f"{_fmt_rate(c)} {r['unit']} | {r['ratio']:.2f}x | {r['wall_ratio']:.2f}x | "
                           f"{r['target'] or ''} | {met} |")
            out.append("")
        for table in res.get("tables", []):
            out.append(f"**{table['title']}**")
            out.append("")
            out.append("| " + " | ".join(table["columns"]) + " |")
            out.append("|" + "---|" * len(table["columns"]))
            for values in table["rows"]:
                out.append("| " + " | ".join(str(v) for v in values) + " |")
            out.append("")
        for note in res.get("notes", []):
            out.append(f"- {note}")
        # Modules with their own result shape: show their medians and ratios rather than nothing.
        own = {k: res[k] for k in ("medians", "ratios") if k in res}
        if own and not res.get("rows"):
            out += ["```json", json.dumps(own, indent=2, sort_keys=True), "```"]
        out.append("")
    return "\n".join(out).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=SIZES, default="quick",
                        help="quick: 10k-100k records, a few minutes (CI); full: up to 1M records; smoke: seconds (tests)")
    parser.add_argument("--only", action="append", default=[], metavar="NAME",
                        help="run only this module (e.g. bench_minhash; repeatable)")
    parser.add_argument("--out", default=str(RESULTS), metavar="DIR", help="report folder")
    args = parser.parse_args(argv)
    names = [n for n in discover() if not args.only or n in args.only]
    if not names:
        parser.error(f"no benchmark modules match {args.only}")
    report = {"environment": environment(args.size), "benchmarks": {}}
    started = time.monotonic()
    failed = False
    for name in names:
        print(f"[bench] {name} ({args.size}) ...", file=sys.stderr, flush=True)
        t0 = time.monotonic()
        try:
            module = importlib.import_module(f"benchmarks.{name}")
            sizes = getattr(module, "SIZES", None)
            if sizes is not None and args.size not in sizes:
                # A module may not offer every size (smoke is optional): say so instead of guessing.
                report["benchmarks"][name] = {"title": name, "rows": [], "notes": [f"no `{args.size}` size"],
                                              "seconds": 0.0}
                continue
            res = module.run(args.size)
        except Exception:  # noqa: BLE001 - one failing benchmark must not hide the others' figures
            res = {"title": name, "error": traceback.format_exc()}
            failed = True
        res["seconds"] = round(time.monotonic() - t0, 1)
        report["benchmarks"][name] = res
        for r in res.get("rows", []):
            flag = {True: "met", False: "NOT MET", None: "-"}[r["met"]]
            print(f"  {r['case']}: {r['candidate']['name']} {r['candidate']['per_cpu_s']:,.0f} {r['unit']} vs "
                  f"{r['baseline']['name']} {r['baseline']['per_cpu_s']:,.0f} -> {r['ratio']}x "
                  f"[{r['target'] or 'no target'}: {flag}]", file=sys.stderr)
    report["seconds"] = round(time.monotonic() - started, 1)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
    (out / "report.md").write_text(markdown(report))
    print(f"[bench] wrote {out / 'report.json'} and {out / 'report.md'} in {report['seconds']:.0f} s",
          file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
