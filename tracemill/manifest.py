"""The run manifest: config and hash, input hashes, counts per stage and disposition from the ledger,
pass@k per task, and every output file with its sha256. Written atomically; no timestamps (those go
to run_info.json, so two identical runs give byte-identical manifests)."""

from __future__ import annotations

import collections
import hashlib
import json

import pyarrow.parquet as pq
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

import schemas
from tracemill import __version__
from tracemill.config import Config, config_hash, to_dict
from tracemill.readers import count_records, resolve_input
from tracemill.sampling import pass_at_k
from tracemill.sinks import atomic_write, read_jsonl_dir

DISPOSITIONS = ("emitted", "filtered", "deduplicated", "dead_lettered")


def sha256_of(path: str) -> tuple[str, int]:
    h, size = hashlib.sha256(), 0
    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
            size += len(chunk)
    return h.hexdigest(), size


def describe_inputs(paths_by_kind: dict[str, tuple[str, ...]]) -> list[dict]:
    out = []
    for kind, paths in paths_by_kind.items():
        for path in paths:
            digest, _ = sha256_of(resolve_input(path))
            out.append({"path": path, "kind": kind, "sha256": digest, "records": count_records(path)})
    return out


def reconcile(inputs: list[dict], ledger: list[dict]) -> dict:
    """Totals and per-(kind, stage, disposition, reason) counts; `reconciled` proves nothing was lost."""
    total = collections.Counter(row["disposition"] for row in ledger)
    by_kind: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    by_stage = collections.Counter()
    for row in ledger:
        by_kind[row["record_kind"]][row["disposition"]] += 1
        by_stage[(row["record_kind"], row["stage"], row["disposition"], row["reason"] or "")] += 1
    n_in = sum(i["records"] for i in inputs)
    keys = collections.Counter((row["source"], row["line"]) for row in ledger)
    once = all(c == 1 for c in keys.values()) and len(keys) == n_in
    totals = {"input": n_in, **{d: total.get(d, 0) for d in DISPOSITIONS}}
    return {
        "total": totals,
        "reconciled": once and n_in == sum(totals[d] for d in DISPOSITIONS),
        "by_kind": {k: {d: c.get(d, 0) for d in DISPOSITIONS} for k, c in sorted(by_kind.items())},
        "by_stage": [{"record_kind": k, "stage": s, "disposition": d, "reason": r or None, "count": n}
                     for (k, s, d, r), n in sorted(by_stage.items())],
    }


def pass_at_k_by_task(trajectories: list[dict]) -> list[dict]:
    groups: dict[str, list[bool]] = collections.defaultdict(list)
    for t in trajectories:
        groups[t["instance_id"]].append(bool(t.get("resolved")))
    rows = []
    for instance_id, outcomes in sorted(groups.items()):
        n, c = len(outcomes), sum(outcomes)
        rows.append({"instance_id": instance_id, "n": n, "correct": c, "pass@1": round(pass_at_k(n, c, 1), 6),
                     f"pass@{n}": round(pass_at_k(n, c, n), 6)})
    return rows


def _describe(path: str) -> tuple[str, int, int | None]:
    """(sha256, bytes, rows) of one output file, reading it once; Parquet rows come from its footer."""
    h, size, newlines = hashlib.sha256(), 0, 0
    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
            size += len(chunk)
            newlines += chunk.count(b"\n")
    if path.endswith(".parquet"):
        with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as fh:
            return h.hexdigest(), size, pq.ParquetFile(fh).metadata.num_rows
    return h.hexdigest(), size, newlines if path.endswith(".jsonl") else None


def output_files(out_dir: str, names: list[str]) -> list[dict]:
    files = []
    for name in names:
        matched = FileSystems.match([FileSystems.join(out_dir, name, "part-*")])[0].metadata_list
        for meta in sorted(matched, key=lambda m: m.path):
            if ".tmp-" in meta.path:
                continue
            digest, size, rows = _describe(meta.path)
            rel = meta.path[len(out_dir.rstrip("/")) + 1:]
            files.append({"path": rel, "sha256": digest, "rows": rows, "bytes": size})
    return files


def rows_of(outputs: list[dict], name: str) -> int:
    """Records of one output, from its Parquet shards' row counts."""
    return sum(f["rows"] or 0 for f in outputs if f["path"].startswith(f"{name}/") and f["path"].endswith(".parquet"))


def build_manifest(pipeline: str, cfg: Config, out_dir: str, inputs: list[dict], output_names: list[str]) -> dict:
    ledger = read_jsonl_dir(out_dir, "dispositions")
    rejections = read_jsonl_dir(out_dir, "rejections")
    trajectories = read_jsonl_dir(out_dir, "trajectories")
    counts = reconcile(inputs, ledger)
    outputs = output_files(out_dir, output_names)
    example_drops = collections.Counter(r["stage"] for r in rejections if r["stage"].startswith("mix_"))
    counts["examples"] = {
        split: {"emitted": rows_of(outputs, split), "dropped_by_mix": example_drops.get(f"mix_{split}", 0)}
        for split in ("sft", "rl")
    }
    by_model = collections.defaultdict(lambda: [0, 0])
    for t in trajectories:
        by_model[t["model"]][0] += 1
        by_model[t["model"]][1] += bool(t.get("resolved"))
    manifest = {
        "pipeline": pipeline,
        "tracemill_version": __version__,
        "config": to_dict(cfg),
        "config_hash": config_hash(cfg),
        "seed": cfg.mix.seed,
        "inputs": inputs,
        "counts": counts,
        "metrics": {
            "pass_at_k": pass_at_k_by_task(trajectories),
            "acceptance_by_model": [{"model": m, "graded": n, "accepted": a, "rate": round(a / n, 6) if n else 0.0}
                                    for m, (n, a) in sorted(by_model.items())],
        },
        "outputs": outputs,
    }
    errs = schemas.errors("manifest", manifest)
    if errs:
        raise AssertionError(f"manifest violates its schema: {errs}")
    return manifest


def write_json(out_dir: str, name: str, obj: dict) -> str:
    path = FileSystems.join(out_dir, name)
    atomic_write(path, (json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode())
    return path
