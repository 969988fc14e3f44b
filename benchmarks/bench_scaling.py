"""End-to-end dedup at growing sizes: `tracemill dedup` (unique ids, exact, MinHash LSH near-dup,
sorted JSONL outputs) on trajectory records, against the in-process path (same signatures, banding,
exact verification and components, everything in one process's memory). Each run is a separate
process, so peak RSS is its own."""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import Measurement, row, trajectories, write_jsonl

SIZES = {"smoke": (200,), "quick": (10_000, 100_000), "full": (10_000, 100_000, 1_000_000)}
TOKENS = 200


def _usage() -> dict:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return {"cpu_s": r.ru_utime + r.ru_stime, "peak_rss_mb": r.ru_maxrss / 1024}


def child_beam(path: str, out: str) -> dict:
    from tracemill.cli import main

    code = main(["dedup", "--input", path, "--field", "messages", "--id-field", "traj_id", "--out", out])
    summary = json.loads(Path(out, "summary.json").read_text())
    return {"code": code, "kept": summary["kept"], "rejected": summary["rejected"]}


def child_plain(path: str, out: str) -> dict:
    import hashlib

    from tracemill.dedup.bands import choose_bands
    from tracemill.dedup.lsh import near_duplicates
    from tracemill.dedup.signatures import Signer
    from tracemill.records import canonical_json

    signer = Signer()
    ids, texts, seen, exact = [], [], {}, 0
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            rec = json.loads(line)
            text = canonical_json(rec["messages"])
            digest = hashlib.sha256(text.encode()).digest()
            if digest in seen:
                exact += 1
                continue
            seen[digest] = rec["traj_id"]
            ids.append(rec["traj_id"])
            texts.append(text)
    sigs, sets = [], []
    for i in range(0, len(texts), 256):
        s, h = signer.sketch(texts[i : i + 256], with_sets=True)
        sigs.append(s)
        sets.extend(h)
    import numpy as np

    bands, rows = choose_bands(0.8, 128)
    near = near_duplicates(ids, np.concatenate(sigs), bands, rows, 0.8, hash_sets=sets)
    return {"code": 0, "kept": len(ids) - len(near), "rejected": exact + len(near)}


def _child_main(argv: list[str]) -> None:
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["beam", "plain"])
    p.add_argument("path")
    p.add_argument("out")
    a = p.parse_args(argv)
    start = time.perf_counter()
    result = (child_beam if a.mode == "beam" else child_plain)(a.path, a.out)
    result["wall_s"] = time.perf_counter() - start
    result.update(_usage())
    print(json.dumps(result))


def _spawn(mode: str, path: Path, out: Path) -> dict:
    proc = subprocess.run([sys.executable, "-m", "benchmarks.bench_scaling", mode, str(path), str(out)],
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{mode} run failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run(size: str) -> dict:
    rows, table = [], []
    first = None
    for n in SIZES[size]:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "trajectories.jsonl"
            write_jsonl(path, trajectories(n, tokens=TOKENS))
            plain = _spawn("plain", path, Path(tmp) / "plain")
            beam = _spawn("beam", path, Path(tmp) / "beam")
        if beam["kept"] != plain["kept"]:
            raise RuntimeError(f"Beam and in-process dedup disagree at {n}: {beam} vs {plain}")
        b = Measurement("in-process (numpy + union-find)", n, [plain["wall_s"]], [plain["cpu_s"]])
        c = Measurement("tracemill dedup (Beam DirectRunner)", n, [beam["wall_s"]], [beam["cpu_s"]])
        rows.append(row(f"{n:,} records", "records/s", b, c, "cost"))
        per = beam["cpu_s"] / n * 1e6
        first = first or per
        table.append([f"{n:,}", f"{beam['wall_s']:.1f}", f"{beam['cpu_s']:.1f}", f"{per:.0f}", f"{per / first:.2f}",
                      f"{beam['peak_rss_mb']:,.0f}", f"{plain['wall_s']:.1f}", f"{plain['peak_rss_mb']:,.0f}",
                      f"{beam['rejected']:,}"])
    return {"title": "Scaling: end-to-end dedup", "rows": rows, "tables": [{
        "title": "Time and peak memory by size (Beam = `tracemill dedup`; cost per record relative to the smallest size)",
        "columns": ["records", "Beam wall s", "Beam CPU s", "CPU us/record", "vs smallest", "Beam peak RSS MB",
                    "in-process wall s", "in-process peak RSS MB", "removed"],
        "rows": table}],
        "notes": [(f"trajectory records with ~{TOKENS}-token bodies and planted near-duplicates; field `messages` "
                  "(canonical JSON); threshold 0.8, exact verification; both paths must keep the same count"),
                  ("DirectRunner keeps shuffled data in memory, so its RSS grows with the input; on Dataflow/Flink "
                  "the same stages hold one key group per worker at a time")]}


if __name__ == "__main__":
    _child_main(sys.argv[1:])
