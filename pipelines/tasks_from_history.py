"""PR-mined tasks: commits -> candidates (shape) -> dedup -> validate (before/after x3) -> filter -> sinks."""

from __future__ import annotations

from pathlib import Path

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions

from tracemill.beam.stage import DEAD, KEPT, REJECTED, Stage
from tracemill.taskgen.outputs import REJECTIONS, TASKS
from tracemill.taskgen.transforms import DedupExactPatches, ValidateInParallel, WriteJsonl, validate_task


def build(p, commits: list[dict], *, make_candidate, validator, task_filter, out_dir: Path,
          workers: int | None = None):
    """Compose the pipeline on `p`; returns (tasks, rejections) PCollections."""
    walked = p | "Commits" >> beam.Create(commits, reshuffle=False)
    candidates = walked | "Candidates" >> Stage("candidates", make_candidate)
    unique = candidates[KEPT] | "DedupPatches" >> DedupExactPatches("dedup", "patch")
    validated = unique[KEPT] | "Validate" >> ValidateInParallel("validate", validator, workers)
    filtered = validated[KEPT] | "FilterTasks" >> Stage("filter", task_filter)
    checked = filtered[KEPT] | "CheckSchema" >> Stage("schema", validate_task)
    rejections = (
        (candidates[REJECTED], candidates[DEAD], unique[REJECTED], validated[REJECTED], validated[DEAD],
         filtered[REJECTED], filtered[DEAD], checked[REJECTED], checked[DEAD])
        | "AllRejections" >> beam.Flatten()
    )
    checked[KEPT] | "WriteTasks" >> WriteJsonl("tasks", str(Path(out_dir) / TASKS))
    rejections | "WriteRejections" >> WriteJsonl("rejections", str(Path(out_dir) / REJECTIONS))
    return checked[KEPT], rejections


def run(commits: list[dict], *, out_dir: Path, beam_args: list[str] | None = None, **kwargs) -> None:
    options = PipelineOptions(beam_args or [])
    if not options.get_all_options().get("runner"):
        options = PipelineOptions([*(beam_args or []), "--runner=DirectRunner"])
    with beam.Pipeline(options=options) as p:
        build(p, commits, out_dir=out_dir, **kwargs)
