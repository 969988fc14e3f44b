"""Beam composites of the traces flow; each is a thin shell over the plain functions beside it.

ReadSnippets -> Stage(check_candidate) -> RejectDuplicateIds -> DedupExact -> TraceCandidates (sandbox, batched) ->
Stage(validate) -> DedupNearDuplicates -> MakeExamples. Every composite routes each input to exactly
one of `kept`, `rejected` or `dead` (see tracemill.beam.stage); the dedup composites are the
project's own (tracemill.beam.dedup), keyed by `input_key` and `near_dedup_text` below.
"""

from __future__ import annotations

import json

import apache_beam as beam
from apache_beam import pvalue

from tracemill.beam.stage import DEAD, KEPT, REJECTED, apply_stage
from tracemill.errors import InfraError, RecordError
from tracemill.records import ORIGIN, Rejection, dead_letter_record, origin, rejection_record
from tracemill.trace import record as trace_records
from tracemill.trace.cwm import render_frames
from tracemill.trace.examples import ExampleSettings, examples_for
from tracemill.trace.runner import TraceSettings, trace_items
from tracemill.trace.snippets import KIND, parse_snippet
from tracemill.validate import validator

SUMMARY = "summary"


class _ParseSnippet(beam.DoFn):
    def process(self, line: tuple[str, int, str]):
        path, n, text = line
        try:
            yield from parse_snippet(path, n, text)
        except RecordError as exc:
            stub = {ORIGIN: {"kind": KIND, "source": path, "line": n}}
            try:  # name the dead letter by the snippet's id when the line has one
                sid = json.loads(text).get("id")
                if isinstance(sid, str):
                    stub["id"] = sid
            except (ValueError, AttributeError):
                pass
            yield pvalue.TaggedOutput(DEAD, dead_letter_record(stub, "read_snippets", exc))


class ReadSnippets(beam.PTransform):
    """Snippet JSONL files -> one candidate per (snippet, input); unusable lines dead-lettered."""

    def __init__(self, paths: list[str]):
        super().__init__()
        self.paths = sorted(paths)

    def expand(self, pbegin):
        from tracemill.trace.snippets import numbered_lines

        return (
            pbegin
            | "Paths" >> beam.Create(self.paths)
            | "Lines" >> beam.FlatMap(numbered_lines)
            | "Parse" >> beam.ParDo(_ParseSnippet()).with_outputs(DEAD, main=KEPT)
        )


class _CaptureRepo(beam.DoFn):
    """One repository's test run under the tracer -> its captured calls (each with `_result`)."""

    def __init__(self, settings: TraceSettings, repo_settings, infra_retries: int):
        self.settings, self.repo_settings, self.infra_retries = settings, repo_settings, infra_retries

    def process(self, repo: str):
        from tracemill.trace import repo as repo_source

        for attempt in range(self.infra_retries + 1):
            try:
                name, results, summary = repo_source.capture_calls(repo, self.settings, self.repo_settings)
                break
            except InfraError as exc:
                if attempt == self.infra_retries:
                    stub = {"id": repo, ORIGIN: {"kind": "repo", "source": repo, "line": None}}
                    yield pvalue.TaggedOutput(DEAD, dead_letter_record(stub, "capture_repo", exc))
                    return
        yield pvalue.TaggedOutput(SUMMARY, {"repo": repo, **summary})
        for raw in results:
            candidate, result = repo_source.candidate_and_result(name, raw)
            yield {**candidate, "_result": result}


class CaptureRepoCalls(beam.PTransform):
    """Repositories -> captured project calls (`kept`), per-repo run summaries (`summary`), and a
    dead letter for a repository whose sandbox could not run (`dead`)."""

    def __init__(self, repos: list[str], settings: TraceSettings, repo_settings, infra_retries: int = 1):
        super().__init__()
        self.repos, self.settings, self.repo_settings = sorted(repos), settings, repo_settings
        self.infra_retries = infra_retries

    def expand(self, pbegin):
        return (
            pbegin
            | "Repos" >> beam.Create(self.repos)
            | "Spread" >> beam.Reshuffle()
            | "Capture" >> beam.ParDo(_CaptureRepo(self.settings, self.repo_settings, self.infra_retries))
            .with_outputs(DEAD, SUMMARY, main=KEPT)
        )


def _keep_first_of_id(keyed):
    """Candidates sharing an id (two snippet lines reusing one): the first in input order is kept."""
    cid, cands = keyed
    ordered = sorted(cands, key=lambda c: (str(origin(c).get("source")), origin(c).get("line") or 0,
                                           c.get("input_hash", "")))
    keeper = origin(ordered[0])
    yield ordered[0]
    for dup in ordered[1:]:
        rej = Rejection("duplicate_id", detail=f"id {cid} already used at {keeper.get('source')}:{keeper.get('line')}")
        yield pvalue.TaggedOutput(REJECTED, rejection_record(dup, "unique_ids", rej))


class RejectDuplicateIds(beam.PTransform):
    """Ids name outputs and join examples to traces, so they must be unique; reuse is filtered."""

    def expand(self, candidates):
        return (
            candidates
            | "ById" >> beam.Map(lambda c: (c["id"], c))
            | "Group" >> beam.GroupByKey()
            | "KeepFirst" >> beam.FlatMap(_keep_first_of_id).with_outputs(REJECTED, main=KEPT)
        )


class _TraceBatch(beam.DoFn):
    """Trace a batch of candidates in as few sandbox processes as possible."""

    def __init__(self, settings: TraceSettings, infra_retries: int):
        self.settings, self.infra_retries = settings, infra_retries

    def process(self, batch: list[dict]):
        items = [{"key": c["id"], "source": c["source"], "entry": c["entry"],
                  "args": c["inputs"]["args"], "kwargs": c["inputs"]["kwargs"]} for c in batch]
        for attempt in range(self.infra_retries + 1):
            try:
                results = trace_items(items, self.settings)
                break
            except InfraError as exc:
                if attempt == self.infra_retries:
                    for c in batch:
                        yield pvalue.TaggedOutput(DEAD, dead_letter_record(c, "trace", exc))
                    return
        limits = self.settings.tracer_settings() | {"memory_mb": self.settings.memory_mb}
        for c in batch:
            tag, value = apply_stage(lambda cand: trace_records.trace_record(cand, results[cand["id"]], limits),
                                     c, "trace")
            yield value if tag == KEPT else pvalue.TaggedOutput(tag, value)


class TraceCandidates(beam.PTransform):
    """Sandboxed tracing, `batch_size` candidates per sandbox process; limits stay per trace."""

    def __init__(self, settings: TraceSettings, batch_size: int = 64, infra_retries: int = 1):
        super().__init__()
        self.settings, self.batch_size, self.infra_retries = settings, batch_size, infra_retries

    def expand(self, candidates):
        return (
            candidates
            | "Batch" >> beam.BatchElements(min_batch_size=1, max_batch_size=self.batch_size)
            | "Trace" >> beam.ParDo(_TraceBatch(self.settings, self.infra_retries)).with_outputs(
                REJECTED, DEAD, main=KEPT)
        )


def near_dedup_text(trace: dict) -> str:
    """What makes two traces near-duplicates: what the program did, i.e. its CWM frames.

    The source context is left out: a whole file shared by every call into it made, on the sample
    repository, to_roman(1) and to_roman(4) 0.95 similar; their frames are 0.93. The frames carry
    every executed line, so near-copies of a program still match each other.
    """
    return render_frames(trace["events"]) if trace["events"] else trace["cwm_text"]


def input_key(candidate: dict) -> str:
    return candidate["input_hash"]


validate_trace = validator("execution_trace")  # schema check before the sink; failures dead-lettered


class MakeExamples(beam.PTransform):
    """Traces -> sft_example records (trace_prediction, debugger_qa)."""

    def __init__(self, settings: ExampleSettings):
        super().__init__()
        self.settings = settings

    def expand(self, traces):
        return traces | "Examples" >> beam.FlatMap(examples_for, self.settings)
