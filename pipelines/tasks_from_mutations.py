"""Mutate-fix tasks: mutants -> dedup -> screen (covering tests) -> cap -> confirm (full run) -> filter -> sinks."""

from __future__ import annotations

import operator
from pathlib import Path

import apache_beam as beam

from tracemill.beam.dedup import DedupExact
from tracemill.beam.stage import DEAD, KEPT, REJECTED, Stage
from tracemill.runner import pipeline_options
from tracemill.taskgen.outputs import REJECTIONS, TASKS
from tracemill.taskgen.transforms import (
    KeepFirstN,
    ValidateInParallel,
    WriteJsonl,
    bug_patch_text,
    validate_task,
)


def build(p, candidates: list[dict], *, screen, confirm, task_filter, max_tasks: int | None, out_dir: Path,
          workers: int | None = None, combiner=None):
    """Compose the pipeline on `p`; returns (tasks, rejections) PCollections."""
    mutants = p | "Candidates" >> beam.Create(candidates, reshuffle=False)
    unique = mutants | "DedupBugPatches" >> DedupExact("dedup", bug_patch_text)
    screened = unique[KEPT] | "Screen" >> ValidateInParallel("screen", screen, workers)
    capped = screened[KEPT] | "CapTasks" >> KeepFirstN("cap", max_tasks, rank=operator.itemgetter("seq"))
    confirmed = capped[KEPT] | "Confirm" >> ValidateInParallel("confirm", confirm, workers)
    filtered = confirmed[KEPT] | "FilterTasks" >> Stage("filter", task_filter)
    checked = filtered[KEPT] | "CheckSchema" >> Stage("schema", validate_task)
    tasks, rejected = [checked[KEPT]], [
        unique[REJECTED], unique[DEAD], screened[REJECTED], screened[DEAD], capped[REJECTED], confirmed[REJECTED],
        confirmed[DEAD], filtered[REJECTED], filtered[DEAD], checked[REJECTED], checked[DEAD]]
    if combiner is not None:
        # Harder tasks: validated mutants of one file applied together, confirmed like any mutant.
        combos = (checked[KEPT]
                  | "ByFile" >> beam.Map(lambda t: (t["provenance"]["path"], t))
                  | "GroupByFile" >> beam.GroupByKey()
                  | "CombineMutants" >> beam.FlatMap(combiner))
        c_confirmed = combos | "ConfirmCombined" >> ValidateInParallel("confirm_combined", confirm, workers)
        c_filtered = c_confirmed[KEPT] | "FilterCombined" >> Stage("filter_combined", task_filter)
        c_checked = c_filtered[KEPT] | "CheckCombinedSchema" >> Stage("schema_combined", validate_task)
        tasks.append(c_checked[KEPT])
        rejected += [c_confirmed[REJECTED], c_confirmed[DEAD], c_filtered[REJECTED], c_filtered[DEAD],
                     c_checked[REJECTED], c_checked[DEAD]]
    all_tasks = tasks | "AllTasks" >> beam.Flatten()
    rejections = rejected | "AllRejections" >> beam.Flatten()
    all_tasks | "WriteTasks" >> WriteJsonl("tasks", str(Path(out_dir) / TASKS))
    rejections | "WriteRejections" >> WriteJsonl("rejections", str(Path(out_dir) / REJECTIONS))
    return all_tasks, rejections


def run(candidates: list[dict], *, out_dir: Path, beam_args: list[str] | None = None, **kwargs) -> None:
    with beam.Pipeline(options=pipeline_options(beam_args or [])) as p:
        build(p, candidates, out_dir=out_dir, **kwargs)
