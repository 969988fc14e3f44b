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

# Record counts per path. The Beam DirectRunner holds every shuffled PCollection in its own memory
# (5.5 GB peak at 100k here), so on this 24 GB machine it runs to 100k; the in-process path runs to 1M.
SIZES = {
    "smoke": {"beam": (200,), "plain": (200,)},
    "quick": {"beam": (10_000,), "plain": (10_000,)},
    "full": {"beam": (10_000, 100_000), "plain": (10_000, 100_000, 1_000_000)},
}
TOKENS = 200


def _usage() -> dict:
    r = resource.getrusage(resource.RUSAGE_SELF)
    # VmHWM is this process's own high-water mark; ru_maxrss can carry the parent's across exec.
    hwm = next((int(line.split()[1]) for line in Path("/proc/self/status").read_text().splitlines()
                if line.startswith("VmHWM:")), r.ru_maxrss)
    return {"cpu_s": r.ru_utime + r.ru_stime, "peak_rss_mb": hwm / 1024}


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
    sigs, sets = [], []

    def flush():
        # Sign as we read: only signatures and shingle sets stay in memory, never the texts.
        if texts:
            s, h = signer.sketch(texts, with_sets=True)
            sigs.append(s)
            sets.extend(h)
            texts.clear()

    with open(path, encoding="utf-8") as fh:
        for line in fh:
            rec = json.loads(line)
            text = canonical_json(rec["messages"])
            digest = hashlib.sha256(text.encode()).digest()[:16]
            if digest in seen:
                exact += 1
                continue
            seen[digest] = True
            ids.append(rec["traj_id"])
            texts.append(text)
            if len(texts) == 256:
                flush()
    flush()
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
    sizes = SIZES[size]
    first: dict[str, float] = {}
    for n in sorted(set(sizes["beam"]) | set(sizes["plain"])):
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "trajectories.jsonl"
            write_jsonl(path, trajectories(n, tokens=TOKENS))
            plain = _spawn("plain", path, Path(tmp) / "plain") if n in sizes["plain"] else None
            beam = _spawn("beam", path, Path(tmp) / "beam") if n in sizes["beam"] else None
        if beam and plain:
            if beam["kept"] != plain["kept"]:
                raise RuntimeError(f"Beam and in-process dedup disagree at {n}: {beam} vs {plain}")
            b = Measurement("in-process (numpy + union-find)", n, [plain["wall_s"]], [plain["cpu_s"]])
            c = Measurement("tracemill dedup (Beam DirectRunner)", n, [beam["wall_s"]], [beam["cpu_s"]])
            rows.append(row(f"{n:,} records", "records/s", b, c, "cost"))
        for label, res in (("Beam `tracemill dedup`", beam), ("in-process", plain)):
            if not res:
                continue
            per = res["cpu_s"] / n * 1e6
            first.setdefault(label, per)
            table.append([label, f"{n:,}", f"{res['wall_s']:.1f}", f"{res['cpu_s']:.1f}", f"{per:.0f}",
                          f"{per / first[label]:.2f}", f"{res['peak_rss_mb']:,.0f}", f"{res['rejected']:,}"])
    return {"title": "Scaling: end-to-end dedup", "rows": rows, "tables": [{
        "title": "Time and peak memory by size (cost per record relative to the path's smallest size)",
        "columns": ["path", "records", "wall s", "CPU s", "CPU us/record", "vs smallest", "peak RSS MB", "removed"],
        "rows": table}],
        "notes": [(f"trajectory records with ~{TOKENS}-token bodies and planted near-duplicates; field `messages` "
                   "(canonical JSON); threshold 0.8, exact verification; where both paths run they must keep the "
                   "same records"),
                  ("Beam runs `tracemill dedup` (unique ids, exact, near-dup, sorted JSONL outputs) on the "
                   "DirectRunner, which keeps shuffled data in its own memory: its RSS grows with the input, so 1M "
                   "records are run in-process only here; on Dataflow/Flink the same stages hold one key group "
                   "per worker at a time")]}


if __name__ == "__main__":
    _child_main(sys.argv[1:])
