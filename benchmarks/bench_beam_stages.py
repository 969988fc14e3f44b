"""Beam's cost over a plain Python loop doing the same work: a map-style stage (parse, validate,
filter through tracemill's Stage wrapper) and a shuffle stage (group trajectories by instance,
keep the smallest id). Both read the same JSONL file and count their outputs."""

from __future__ import annotations

import json
import tempfile
from collections import defaultdict
from pathlib import Path

import apache_beam as beam

import schemas
from benchmarks.common import beam_args, row, side_by_side, trajectories, write_jsonl
from tracemill.beam.stage import KEPT, Stage, apply_stage
from tracemill.records import Rejection
from tracemill.runner import pipeline_options

SIZES = {"smoke": (500, 1), "quick": (100_000, 1), "full": (300_000, 3)}  # (records, repeats)
DISTINCT = 5_000  # distinct trajectory bodies; ids differ, so every record is its own


def parse(line: str) -> dict:
    return json.loads(line)


def check(traj: dict) -> dict | Rejection:
    """The map stage's work: schema check plus a heuristic filter on measured signals."""
    if not schemas.is_valid("trajectory", traj):
        return Rejection("schema_invalid")
    chars = sum(len(m.get("content") or "") for m in traj["messages"])
    turns = sum(1 for m in traj["messages"] if m["role"] == "assistant")
    if chars > 200_000 or turns < 1:
        return Rejection("too_long" if chars > 200_000 else "no_assistant_turn", signal=chars)
    return traj


def loop_map(path: Path) -> int:
    kept = 0
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            tag, _ = apply_stage(check, parse(line), "filter")
            kept += tag == KEPT
    return kept


def loop_shuffle(path: Path) -> int:
    groups: dict[str, list[str]] = defaultdict(list)
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            t = parse(line)
            groups[t["instance_id"]].append(t["traj_id"])
    return len({k: min(v) for k, v in groups.items()})


def _keep_smallest(kv):
    return kv[0], min(kv[1])


def beam_map(path: Path):
    def go():
        with beam.Pipeline(options=pipeline_options(beam_args())) as p:
            out = (p | "Read" >> beam.io.ReadFromText(str(path)) | "Parse" >> beam.Map(parse)
                   | "Filter" >> Stage("filter", check))
            _ = out[KEPT] | "Count" >> beam.combiners.Count.Globally()
    return go


def beam_shuffle(path: Path):
    def go():
        with beam.Pipeline(options=pipeline_options(beam_args())) as p:
            _ = (p | "Read" >> beam.io.ReadFromText(str(path)) | "Parse" >> beam.Map(parse)
                 | "Key" >> beam.Map(lambda t: (t["instance_id"], t["traj_id"]))
                 | "Group" >> beam.GroupByKey() | "Keep" >> beam.Map(_keep_smallest)
                 | "Count" >> beam.combiners.Count.Globally())
    return go


def records(n: int):
    distinct = min(n, DISTINCT)
    bodies = list(trajectories(distinct))
    for i in range(n):
        t = dict(bodies[i % distinct])
        t["traj_id"] = f"traj-{i:08d}"
        t["instance_id"] = f"proj__repo-{i % 4999}"
        yield t


def run(size: str) -> dict:
    n, repeats = SIZES[size]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "trajectories.jsonl"
        write_jsonl(path, records(n))
        mb = path.stat().st_size / 1e6
        m = side_by_side(n, repeats, **{"plain loop (map)": lambda: loop_map(path), "Beam Stage (map)": beam_map(path)})
        s = side_by_side(n, repeats, **{"plain loop (group)": lambda: loop_shuffle(path),
                                        "Beam GroupByKey": beam_shuffle(path)})
    rows = [row("map-style stage: parse + validate + filter", "records/s", m["plain loop (map)"],
                m["Beam Stage (map)"], "cost", 2.5, "cost <= 2.5x loop"),
            row("shuffle stage: group by instance, keep smallest id", "records/s", s["plain loop (group)"],
                s["Beam GroupByKey"], "cost", 5.0, "cost <= 5x loop")]
    return {"title": "Beam stage overhead", "rows": rows, "notes": [
        (f"{n:,} trajectory records ({mb:.0f} MB of JSONL), DirectRunner with the CLI's defaults "
        "(one worker); Beam times include pipeline start-up"),
        "ratio = Beam CPU time / loop CPU time for the same work (lower is better)"]}
