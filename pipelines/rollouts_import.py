"""`tracemill rollouts import`: agent logs -> canonical trajectories joined with harness outcomes.

read -> adapt -> validate -> [filter] -> join reports -> write trajectories, rejections, dispositions
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial

import apache_beam as beam

from filters.trajectory import TrajectoryLimits, apply_filters
from tracemill.beam.dispositions import emitted, from_rejection
from tracemill.beam.rollouts_import import JoinReports, ReadAgentLogs, WriteJsonlFile
from tracemill.beam.stage import Stage
from tracemill.reports import JoinSettings
from tracemill.sources.agent_logs import adapt
from tracemill.validate import validator

OUTPUTS = {
    "trajectories": lambda r: r["traj_id"],
    "rejections": lambda r: f"{r['source']}|{r['line'] or 0:09d}|{r['stage']}|{r['record_id']}",
    "dispositions": lambda r: f"{r['source']}|{r['line'] or 0:09d}|{r['record_id']}",
}


@dataclass(frozen=True)
class ImportSettings:
    inputs: tuple[str, ...]
    fmt: str = "auto"
    report_entries: tuple[dict, ...] = ()  # read by the driver: a broken report file is a usage error
    join: JoinSettings = field(default_factory=JoinSettings)
    limits: TrajectoryLimits | None = None  # None: import everything that is valid


def build(p: beam.Pipeline, settings: ImportSettings, out_dir: str) -> None:
    raw = p | "Read" >> ReadAgentLogs(list(settings.inputs), settings.fmt)
    adapted = raw | "Adapt" >> Stage("adapt", adapt)
    valid = adapted.kept | "Validate" >> Stage("validate_trajectory", validator("trajectory"))
    losses = [adapted.rejected, adapted.dead, valid.rejected, valid.dead]
    trajectories = valid.kept
    if settings.limits is not None:
        filtered = trajectories | "Filter" >> Stage("filter_trajectory", partial(apply_filters, limits=settings.limits))
        trajectories = filtered.kept
        losses += [filtered.rejected, filtered.dead]

    entries = p | "Reports" >> beam.Create(list(settings.report_entries))
    joined = (trajectories, entries) | "JoinReports" >> JoinReports(settings.join)

    rejections = [*losses, joined.rejected] | "Rejections" >> beam.Flatten()
    ledger = ((rejections | "Ledger[rejected]" >> beam.Map(from_rejection),
               joined.trajectories | "Ledger[trajectories]" >> beam.Map(emitted, "write"),
               joined.joined | "Ledger[reports]" >> beam.Map(emitted, "join_reports"))
              | "Ledger" >> beam.Flatten())

    for name, pcoll in (("trajectories", joined.trajectories), ("rejections", rejections),
                        ("dispositions", ledger)):
        pcoll | f"Write[{name}]" >> WriteJsonlFile(f"{out_dir}/{name}.jsonl", OUTPUTS[name])
