"""The task factory's run outputs: `tasks.jsonl`, `rejections.jsonl` and a reconciled `manifest.json`.

Counts come from the written files, not from logs: input = emitted + filtered + deduplicated +
dead-lettered, per stage and reason, or the manifest says `reconciled: false`.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from pathlib import Path

from tracemill import __version__
from tracemill.records import canonical_json, stable_hash
from tracemill.taskgen.transforms import read_jsonl

TASKS, REJECTIONS, MANIFEST = "tasks.jsonl", "rejections.jsonl", "manifest.json"
OWNED = [TASKS, REJECTIONS, MANIFEST, "run_info.json"]  # cleared before a run writes into --out


def _file_entry(path: Path, rows: int | None) -> dict:
    data = path.read_bytes() if path.is_file() else b""
    return {"path": path.name, "sha256": hashlib.sha256(data).hexdigest(), "rows": rows, "bytes": len(data)}


def derived_inputs(out_dir: Path) -> int:
    """Records a run made from its own outputs (combined mutants): inputs too, for reconciliation."""
    from tracemill.taskgen.combine import KIND

    tasks = read_jsonl(Path(out_dir) / TASKS)
    rejections = read_jsonl(Path(out_dir) / REJECTIONS)
    return (sum(1 for t in tasks if (t.get("provenance") or {}).get("combined_from"))
            + sum(1 for r in rejections if r.get("record_kind") == KIND))


def write_manifest(out_dir: Path, *, pipeline: str, config: dict, inputs: list[dict], input_count: int,
                   seed: int | None = None, metrics: dict | None = None) -> dict:
    out_dir = Path(out_dir)
    tasks = read_jsonl(out_dir / TASKS)
    rejections = read_jsonl(out_dir / REJECTIONS)
    by_disp = Counter(r["disposition"] for r in rejections)
    total = {"input": input_count, "emitted": len(tasks), "filtered": by_disp.get("filtered", 0),
             "deduplicated": by_disp.get("deduplicated", 0), "dead_lettered": by_disp.get("dead_lettered", 0)}
    stages = Counter((r["stage"], r["disposition"], r["reason"]) for r in rejections)
    by_stage = [{"stage": s, "outcome": d, "reason": r, "count": n} for (s, d, r), n in sorted(stages.items())]
    by_source = Counter(t["source"] for t in tasks)
    manifest = {
        "pipeline": pipeline,
        "tracemill_version": __version__,
        "config": config,
        "config_hash": stable_hash(config)[:16],
        "seed": seed,
        "inputs": inputs,
        "counts": {
            "total": total,
            "reconciled": total["input"] == sum(v for k, v in total.items() if k != "input"),
            "by_kind": {"tasks_by_source": dict(sorted(by_source.items())),
                        "flagged": dict(sorted(Counter(f for t in tasks for f in t.get("flags", [])).items()))},
            "by_stage": by_stage,
        },
        "metrics": metrics or {},
        "outputs": [_file_entry(out_dir / TASKS, len(tasks)), _file_entry(out_dir / REJECTIONS, len(rejections))],
    }
    path = out_dir / MANIFEST
    tmp = path.with_name(f".{MANIFEST}.tmp")
    tmp.write_text(json.dumps(json.loads(canonical_json(manifest)), indent=2, sort_keys=True) + "\n")
    tmp.replace(path)
    return manifest
