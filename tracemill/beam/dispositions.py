"""The disposition ledger: exactly one row per input record, from the pipeline's own outputs.

Input-level rejections (filtered, deduplicated, dead-lettered tasks and trajectories) map one to one;
an emitted task is a row; a graded rollout is emitted when at least one of its examples survived the
mix, and otherwise filtered as `mix_budget` (with a rejection row saying so).
"""

from __future__ import annotations

import apache_beam as beam
from apache_beam import pvalue

from tracemill.records import ORIGIN, Rejection, origin, record_id, rejection_record

INPUT_KINDS = ("task", "trajectory")


def from_rejection(rej: dict) -> dict:
    return {"record_kind": rej["record_kind"], "record_id": rej["record_id"], "source": rej["source"],
            "line": rej["line"], "disposition": rej["disposition"], "stage": rej["stage"], "reason": rej["reason"]}


def emitted(record: dict, stage: str = "emit") -> dict:
    o = origin(record)
    return {"record_kind": o.get("kind", "unknown"), "record_id": record_id(record), "source": o.get("source"),
            "line": o.get("line"), "disposition": "emitted", "stage": stage, "reason": None}


def is_input_level(rej: dict) -> bool:
    """A rejection of a record read from an input file (not of an example derived in the run)."""
    return rej["record_kind"] in INPUT_KINDS or rej["record_kind"] == "unknown" or rej.get("line") is not None


class _SettleRollout(beam.DoFn):
    def process(self, joined):
        _, groups = joined
        for traj in groups["graded"]:
            if groups["kept"]:
                yield emitted(traj)
            else:
                rej = rejection_record(traj, "mix", Rejection("mix_budget", detail="every example of this rollout "
                                                              "was dropped by the token budget"))
                yield pvalue.TaggedOutput("rejected", rej)
                yield from_rejection(rej)


class SettleRollouts(beam.PTransform):
    """(graded trajectories, kept examples) -> disposition rows (main) + `rejected` mix_budget rows."""

    def expand(self, inputs):
        graded, kept_examples = inputs
        return ({"graded": graded | "KeyGraded" >> beam.Map(lambda t: (t["traj_id"], t)),
                 "kept": kept_examples | "KeyKept" >> beam.Map(lambda e: (e["traj_id"], 1))}
                | "Join" >> beam.CoGroupByKey()
                | "Settle" >> beam.ParDo(_SettleRollout()).with_outputs("rejected", main="rows"))


def keep_first_task(keyed) -> list:
    """For tasks sharing an instance_id: the first by (source, line) is kept, the rest deduplicated."""
    instance_id, tasks = keyed
    ordered = sorted(tasks, key=lambda t: (str(origin(t).get("source")), origin(t).get("line") or 0))
    keeper = ordered[0]
    where = f"{origin(keeper).get('source')}:{origin(keeper).get('line')}"
    out = [("kept", keeper)]
    for dup in ordered[1:]:
        out.append(("rejected", rejection_record(dup, "dedup_tasks", Rejection(
            "duplicate_instance_id", duplicate_of=instance_id, similarity=None, disposition="deduplicated",
            detail=f"kept the copy at {where}"))))
    return out


class DedupTasks(beam.PTransform):
    def expand(self, tasks):
        return (tasks
                | "ById" >> beam.Map(lambda t: (t["instance_id"], t))
                | "Group" >> beam.GroupByKey()
                | "Keep" >> beam.FlatMap(keep_first_task)
                | "Route" >> beam.ParDo(_Route()).with_outputs("rejected", main="kept"))


class _Route(beam.DoFn):
    def process(self, tagged):
        tag, value = tagged
        yield value if tag == "kept" else pvalue.TaggedOutput(tag, value)


__all__ = ["ORIGIN", "DedupTasks", "SettleRollouts", "emitted", "from_rejection", "is_input_level"]
