"""PR-mined tasks: commits -> candidates (shape) -> dedup -> validate (before/after x3) -> filter -> sinks."""

from __future__ import annotations

from pathlib import Path

import apache_beam as beam

from tracemill.beam.dedup import DedupExact, DedupNearDuplicates
from tracemill.beam.stage import DEAD, KEPT, REJECTED, Stage
from tracemill.runner import pipeline_options
from tracemill.taskgen.outputs import REJECTIONS, TASKS
from tracemill.taskgen.transforms import ValidateInParallel, WriteJsonl, patch_text, validate_task


def build(p, commits: list[dict], *, make_candidate, validator, task_filter, out_dir: Path,
          workers: int | None = None, near_threshold: float = 0.9):
    """Compose the pipeline on `p`; returns (tasks, rejections) PCollections."""
    walked = p | "Commits" >> beam.Create(commits, reshuffle=False)
    candidates = walked | "Candidates" >> Stage("candidates", make_candidate)
    # Cherry-picks and backports repeat a fix: dedup before any test runs (cheap before expensive).
    exact = candidates[KEPT] | "DedupPatches" >> DedupExact("dedup", patch_text)
    unique = exact[KEPT] | "DedupNearPatches" >> DedupNearDuplicates(
        "near_dedup", patch_text, threshold=near_threshold, ngram=3, check_convergence=False)
    validated = unique[KEPT] | "Validate" >> ValidateInParallel("validate", validator, workers)
    filtered = validated[KEPT] | "FilterTasks" >> Stage("filter", task_filter)
    checked = filtered[KEPT] | "CheckSchema" >> Stage("schema", validate_task)
    rejections = (
        (candidates[REJECTED], candidates[DEAD], exact[REJECTED], exact[DEAD], unique[REJECTED], unique[DEAD],
         validated[REJECTED], validated[DEAD], filtered[REJECTED], filtered[DEAD], checked[REJECTED], checked[DEAD])
        | "AllRejections" >> beam.Flatten()
    )
    checked[KEPT] | "WriteTasks" >> WriteJsonl("tasks", str(Path(out_dir) / TASKS))
    rejections | "WriteRejections" >> WriteJsonl("rejections", str(Path(out_dir) / REJECTIONS))
    return checked[KEPT], rejections


def run(commits: list[dict], *, out_dir: Path, beam_args: list[str] | None = None, **kwargs) -> None:
    with beam.Pipeline(options=pipeline_options(beam_args or [])) as p:
        build(p, commits, out_dir=out_dir, **kwargs)
