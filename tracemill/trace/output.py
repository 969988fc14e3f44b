"""The traces run's files: traces.jsonl, sft.jsonl, rejections.jsonl and manifest.json (plus
traces.parquet and sft.parquet, typed from the same JSON Schemas, for DuckDB and trainers).

Last step of the flow. Records are sorted by id and written canonically (sorted keys, no `_origin`)
to a temporary name and renamed into place, so the same input and seed give byte-identical files.
Counts come from the records themselves, and the manifest states whether they reconcile:
inputs = emitted + filtered + deduplicated + dead-lettered.

Single files rather than tracemill.sinks' sharded folders, because the `traces` command's contract
is `DIR/traces.jsonl`; the bytes are made the same way (canonical JSON, sinks.parquet_bytes).
"""

from __future__ import annotations

import collections
import hashlib
import json
from pathlib import Path

from tracemill import __version__
from tracemill.records import canonical_json, stable_hash, strip_origin
from tracemill.sinks import atomic_write, parquet_bytes

TRACES, SFT, REJECTIONS, MANIFEST = "traces.jsonl", "sft.jsonl", "rejections.jsonl", "manifest.json"


def _atomic_write(path: Path, data: bytes) -> None:
    atomic_write(str(path), data)


def write_jsonl(path: Path, records: list[dict], sort_key, parquet_schema: str | None = None) -> list[dict]:
    """Write records sorted by `sort_key` (and the same rows as Parquet); manifest output entries."""
    rows = sorted((strip_origin(r) for r in records), key=sort_key)
    written = []
    data = "".join(canonical_json(r) + "\n" for r in rows).encode("utf-8")
    if parquet_schema:
        files = [(path, data), (path.with_suffix(".parquet"), parquet_bytes(parquet_schema, rows))]
    else:
        files = [(path, data)]
    for target, blob in files:
        _atomic_write(target, blob)
        written.append({"path": target.name, "sha256": hashlib.sha256(blob).hexdigest(), "rows": len(rows),
                        "bytes": len(blob)})
    return written


def rejection_sort_key(r: dict) -> tuple:
    return r["record_id"], r["stage"], r["reason"], str(r.get("source")), r.get("line") or 0


def counts(input_units: int, traces: list[dict], rejections: list[dict], examples: list[dict]) -> dict:
    by_disposition = collections.Counter(r["disposition"] for r in rejections)
    total = {
        "input": input_units,
        "emitted": len(traces),
        "filtered": by_disposition["filtered"],
        "deduplicated": by_disposition["deduplicated"],
        "dead_lettered": by_disposition["dead_lettered"],
    }
    by_stage = collections.Counter((r["record_kind"], r["stage"], r["disposition"], r["reason"]) for r in rejections)
    status = collections.Counter(t["status"] for t in traces)
    truncation = collections.Counter(t["truncation_reason"] for t in traces if t["truncation_reason"])
    return {
        "total": total,
        "reconciled": input_units == sum(v for k, v in total.items() if k != "input"),
        "by_stage": [{"record_kind": k, "stage": s, "disposition": d, "reason": r, "count": n}
                     for (k, s, d, r), n in sorted(by_stage.items())],
        "by_kind": {"trace_status": dict(sorted(status.items())), "truncation_reason": dict(sorted(truncation.items()))},
        "examples": dict(sorted(collections.Counter(e["task_kind"] for e in examples).items())),
    }


def _without_examples(traces: list[dict], examples: list[dict]) -> dict:
    """Why some emitted traces gave no trace-prediction example (examples are derived, not inputs,
    so they are not part of the reconciliation; this says where the difference went)."""
    with_target = {e["metadata"]["trace_id"] for e in examples if e["task_kind"] == "trace_prediction"}
    missing = [t for t in traces if t["id"] not in with_target]
    return {"truncated": sum(t["status"] == "truncated" for t in missing),
            "target_too_long": sum(t["status"] != "truncated" for t in missing)}


def write_outputs(out_dir: str, *, config: dict, inputs: list[dict], input_units: int, traces: list[dict],
                  examples: list[dict], rejections: list[dict], seed: int, extra_metrics: dict | None = None) -> dict:
    """Write the four files; returns the manifest."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    outputs = [
        *write_jsonl(out / TRACES, traces, lambda r: (r["snippet_id"], r["input_index"], r["id"]), "execution_trace"),
        *write_jsonl(out / SFT, examples, lambda r: r["id"], "sft_example"),
        *write_jsonl(out / REJECTIONS, rejections, rejection_sort_key),
    ]
    manifest = {
        "pipeline": "traces",
        "tracemill_version": __version__,
        "config": config,
        "config_hash": stable_hash(config),
        "seed": seed,
        "inputs": inputs,
        "counts": counts(input_units, traces, rejections, examples),
        "metrics": {"events": sum(t["num_events"] for t in traces), "traces_without_examples":
                    _without_examples(traces, examples), **(extra_metrics or {})},
        "outputs": outputs,
    }
    _atomic_write(out / MANIFEST, (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode("utf-8"))
    return manifest


def write_all(out_dir: str, *, manifest_base: dict, input_units: int, traces: list[dict], examples: list[dict],
              rejections: list[dict], repo_runs: list[dict] = ()) -> dict:
    """Beam-side entry point (one call, all records as side inputs): the four files."""
    runs = {r["repo"]: r for r in repo_runs}
    inputs = []
    for entry in manifest_base["inputs"]:
        if entry.get("kind") == "repo":  # a repository's records are the calls its tests made
            run = runs.get(entry["path"], {})
            entry = {**entry, "records": run.get("traces", 0)}
        inputs.append(entry)
    metrics = dict(manifest_base.get("metrics") or {})
    if runs:
        metrics["repo_runs"] = [{k: v for k, v in r.items()} for _, r in sorted(runs.items())]
    return write_outputs(out_dir, config=manifest_base["config"], inputs=inputs,
                         input_units=input_units, traces=traces, examples=examples, rejections=rejections,
                         seed=manifest_base.get("seed", 0), extra_metrics=metrics)


def read_manifest(out_dir: str) -> dict:
    return json.loads((Path(out_dir) / MANIFEST).read_text(encoding="utf-8"))


def summary(manifest: dict) -> str:
    """The end-of-run table: dispositions, trace statuses and examples."""
    c = manifest["counts"]
    rows = [("inputs (snippet x input)", c["total"]["input"]), ("traces emitted", c["total"]["emitted"]),
            ("filtered", c["total"]["filtered"]), ("deduplicated", c["total"]["deduplicated"]),
            ("dead-lettered", c["total"]["dead_lettered"])]
    rows += [(f"  status {k}", v) for k, v in c["by_kind"]["trace_status"].items()]
    rows += [(f"{k} examples", v) for k, v in c["examples"].items()]
    width = max(len(r[0]) for r in rows) + 2
    status = "reconciled" if c["reconciled"] else "NOT RECONCILED"
    return "\n".join(["", "  tracemill traces", *(f"  {n:<{width}}{v:>8}" for n, v in rows), f"  counts {status}", ""])
