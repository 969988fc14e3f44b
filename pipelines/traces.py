"""`tracemill traces`: Python programs -> sandboxed CWM-format traces -> trace-prediction and
neural-debugger examples, with every (program, input) accounted for in the manifest.

--snippets: read -> check -> unique ids -> exact dedup -> trace (sandbox, batched) -> validate -> near dedup -> examples -> write
--repo:     run the tests under the tracer (sandbox) -> unique ids -> exact dedup -> validate -> near dedup -> examples -> write
"""

from __future__ import annotations

from functools import partial

import apache_beam as beam

from tracemill.beam.dedup import DedupExact, DedupNearDuplicates
from tracemill.beam.stage import DEAD, KEPT, REJECTED, Stage
from tracemill.trace.output import write_all
from tracemill.trace.record import record_from_capture
from tracemill.trace.settings import TracesConfig
from tracemill.trace.snippets import check_candidate
from tracemill.trace.transforms import (
    SUMMARY,
    CaptureRepoCalls,
    MakeExamples,
    ReadSnippets,
    RejectDuplicateIds,
    TraceCandidates,
    input_key,
    near_dedup_text,
    validate_trace,
)


def build(p: beam.Pipeline, cfg: TracesConfig, out_dir: str, *, snippets: tuple[str, ...] = (),
          repos: tuple[str, ...] = (), manifest_base: dict) -> None:
    losses = []
    summaries = p | "NoRepoRuns" >> beam.Create([])
    if snippets:
        read = p | "ReadSnippets" >> ReadSnippets(list(snippets))
        units = (read.kept, read.dead) | "Units" >> beam.Flatten()
        checked = read.kept | "CheckCandidates" >> Stage("check_candidate", partial(check_candidate,
                                                                                   limits=cfg.candidates))
        ids = checked.kept | "UniqueIds" >> RejectDuplicateIds()
        unique = ids[KEPT] | "DedupExact" >> DedupExact("dedup_exact", key_fn=input_key)
        traced = unique["kept"] | "Trace" >> TraceCandidates(cfg.trace, cfg.batch_size, cfg.infra_retries)
        traces = traced.kept
        losses += [read.dead, checked.rejected, checked.dead, ids[REJECTED], unique["rejected"], unique["dead"],
                   traced.rejected, traced.dead]
    else:
        captured = p | "CaptureRepoCalls" >> CaptureRepoCalls(list(repos), cfg.trace, cfg.repo, cfg.infra_retries)
        calls, summaries = captured[KEPT], captured[SUMMARY]
        units = (calls, captured[DEAD]) | "Units" >> beam.Flatten()
        losses.append(captured[DEAD])
        traced = calls | "TraceRecords" >> Stage("trace", partial(record_from_capture, settings=cfg.trace))
        ids = traced.kept | "UniqueIds" >> RejectDuplicateIds()
        unique = ids[KEPT] | "DedupExact" >> DedupExact("dedup_exact", key_fn=input_key)
        traces = unique["kept"]
        losses += [traced.rejected, traced.dead, ids[REJECTED], unique["rejected"], unique["dead"]]

    valid = traces | "Validate" >> Stage("validate_trace", validate_trace)
    traces = valid.kept
    losses += [valid.dead, valid.rejected]
    if cfg.dedup.near:
        near = traces | "DedupNear" >> DedupNearDuplicates(
            "dedup_near", text_fn=near_dedup_text, threshold=cfg.dedup.threshold, num_perm=cfg.dedup.num_perm,
            ngram=cfg.dedup.ngram, seed=cfg.dedup.seed)
        traces = near["kept"]
        losses += [near["rejected"], near["dead"]]

    examples = traces | "Examples" >> MakeExamples(cfg.examples)
    rejections = losses | "Rejections" >> beam.Flatten()
    n_units = units | "CountUnits" >> beam.combiners.Count.Globally()
    _ = (p | "OutDir" >> beam.Create([out_dir])
         | "Write" >> beam.Map(write_all, manifest_base=manifest_base,
                               input_units=beam.pvalue.AsSingleton(n_units),
                               traces=beam.pvalue.AsList(traces),
                               examples=beam.pvalue.AsList(examples),
                               rejections=beam.pvalue.AsList(rejections),
                               repo_runs=beam.pvalue.AsList(summaries)))
