"""Beam composites of the rollout import: read agent-log files, join harness reports, write one file.

Worker code for `pipelines/rollouts_import.py`; the per-record logic lives in
`tracemill.sources.agent_logs` (adapt) and `tracemill.reports` (join), this module only wires it.
"""

from __future__ import annotations

import apache_beam as beam
from apache_beam import pvalue

from tracemill.records import canonical_json, strip_origin
from tracemill.reports import JoinSettings, join
from tracemill.sinks import atomic_write, jsonl_bytes
from tracemill.sources.agent_logs import read_records


class ReadAgentLogs(beam.PTransform):
    """File paths -> raw records (one per JSON file, one per JSONL line), read on the workers."""

    def __init__(self, paths: list[str], fmt: str):
        super().__init__()
        self.paths, self.fmt = sorted(paths), fmt

    def expand(self, pbegin):
        fmt = self.fmt
        return (pbegin
                | "Paths" >> beam.Create(self.paths)
                | "Reshuffle" >> beam.Reshuffle()
                | "Records" >> beam.FlatMap(lambda path: read_records(path, fmt)))


class _Join(beam.DoFn):
    def __init__(self, settings: JoinSettings):
        self.settings = settings

    def process(self, keyed):
        instance_id, groups = keyed
        for tag, value in join(instance_id, list(groups["trajectories"]), list(groups["entries"]), self.settings):
            yield value if tag == "trajectory" else pvalue.TaggedOutput(tag, value)


class JoinReports(beam.PTransform):
    """(trajectories, report entries) -> trajectories with outcomes; `joined` entries; `rejected` rows."""

    def __init__(self, settings: JoinSettings):
        super().__init__()
        self.settings = settings

    def expand(self, inputs):
        trajectories, entries = inputs
        return ({"trajectories": trajectories | "KeyTraj" >> beam.Map(lambda t: (t["instance_id"], t)),
                 "entries": entries | "KeyEntries" >> beam.Map(lambda e: (e["instance_id"], e))}
                | "CoGroup" >> beam.CoGroupByKey()
                | "Join" >> beam.ParDo(_Join(self.settings)).with_outputs("joined", "rejected", main="trajectories"))


def _write(records: list[dict], path: str, sort_key) -> str:
    rows = sorted((strip_origin(r) for r in records), key=lambda r: (sort_key(r), canonical_json(r)))
    atomic_write(path, jsonl_bytes(rows))
    return path


class WriteJsonlFile(beam.PTransform):
    """All records into one sorted JSONL file, written atomically (an empty input gives an empty file).

    One file is what `rollouts import` promises; imports are log-sized, and the sort makes reruns
    byte-identical. Use the sharded writer (`tracemill.sinks.WriteShards`) for corpus-sized outputs.
    """

    def __init__(self, path: str, sort_key):
        super().__init__()
        self.path, self.sort_key = path, sort_key

    def expand(self, pcoll):
        path, key = self.path, self.sort_key
        return (pcoll
                | "Collect" >> beam.combiners.ToList()
                | "Write" >> beam.Map(_write, path, key))
