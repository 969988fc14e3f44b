"""Schema validation: jsonschema's Draft 2020-12 validator vs the compiled jsonschema-rs validator
that `schemas.is_valid` uses, and validation's share of a Beam pipeline that parses, validates
and filters the same records."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import schemas
from benchmarks.bench_beam_stages import beam_map, records
from benchmarks.common import row, side_by_side, write_jsonl

SIZES = {"smoke": (100, 1, 300), "quick": (5_000, 3, 30_000), "full": (50_000, 3, 200_000)}  # (records, repeats, pipeline records)


def run(size: str) -> dict:
    n, repeats, n_pipeline = SIZES[size]
    recs = list(records(n))
    slow = schemas._slow("trajectory")  # jsonschema's own validator, compiled once

    def with_jsonschema():
        return sum(1 for r in recs if slow.is_valid(r))

    def with_rs():
        return sum(1 for r in recs if schemas.is_valid("trajectory", r))

    assert with_jsonschema() == with_rs() == n
    m = side_by_side(n, repeats, **{"jsonschema": with_jsonschema, "jsonschema-rs (schemas.is_valid)": with_rs})
    rs = m["jsonschema-rs (schemas.is_valid)"]
    rows = [row("validate trajectory records", "records/s", m["jsonschema"], rs, "speed")]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "trajectories.jsonl"
        write_jsonl(path, records(n_pipeline))
        pipe = side_by_side(n_pipeline, 1, **{"Beam parse + validate + filter": beam_map(path)})[
            "Beam parse + validate + filter"]
    share = (rs.cpu_s / rs.n) / (pipe.cpu_s / pipe.n)
    bad = json.loads(json.dumps(recs[0]))
    bad["messages"][2]["role"] = "robot"
    path_, message = schemas.errors("trajectory", bad)[0]
    return {"title": "Schema validation", "rows": rows, "tables": [{
        "title": "Validation's share of pipeline time",
        "columns": ["pipeline", "records", "pipeline CPU per record", "validation CPU per record", "share", "target",
                    "met"],
        "rows": [["Beam read + parse + validate + filter", f"{n_pipeline:,}", f"{pipe.cpu_s / pipe.n * 1e6:.1f} us",
                  f"{rs.cpu_s / rs.n * 1e6:.1f} us", f"{share:.1%}", "< 10%", "yes" if share < 0.10 else "**no**"]]}],
        "extra": {"validation_share": round(share, 4)},
        "notes": [("invalid records still get jsonschema's messages (schemas.errors): e.g. "
                  f"`{path_}: {message[:80]}`")]}
