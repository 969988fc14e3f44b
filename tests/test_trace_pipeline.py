"""The traces pipeline: Beam composites on each of kept / rejected / dead, and the CLI end to end
(four files, counts that reconcile, byte-identical reruns)."""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path

import pytest
from apache_beam.testing.test_pipeline import TestPipeline as BeamPipeline
from apache_beam.testing.util import assert_that, equal_to

import schemas
from tracemill.beam.dedup import DedupExact
from tracemill.beam.stage import Stage
from tracemill.cli import main
from tracemill.runner import pipeline_options
from tracemill.sandbox import bwrap_available
from tracemill.trace.runner import TraceSettings
from tracemill.trace.snippets import CandidateLimits, check_candidate
from tracemill.trace.transforms import ReadSnippets, TraceCandidates, input_key

ADD = "def add(a, b):\n    c = a + b\n    return c\n"
SNIPPETS = [
    {"id": "add", "source": ADD, "entry": "add", "inputs": [{"args": [1, 2]}, {"args": [3], "kwargs": {"b": 4}}]},
    {"id": "add-copy", "source": ADD, "entry": "add", "inputs": [{"args": [1, 2], "kwargs": {}}]},
    {"id": "syntax", "source": "def x(:\n", "entry": "x", "inputs": [{"args": []}]},
    {"id": "missing-entry", "source": ADD, "entry": "sub", "inputs": [{"args": [1, 2]}]},
    {"id": "bad-input", "source": ADD, "entry": "add", "inputs": [[1, 2]]},
    {"id": "arity", "source": ADD, "entry": "add", "inputs": [{"args": [1]}]},
    {"id": "raises", "source": "def boom(x):\n    raise KeyError(x)\n", "entry": "boom", "inputs": [{"args": ["k"]}]},
    {"id": "gen", "source": "def g(n):\n    yield n\n", "entry": "g", "inputs": [{"args": [1]}]},
]


def write_snippets(path: Path, extra_lines: tuple[str, ...] = ()) -> str:
    path.write_text("".join(json.dumps(s) + "\n" for s in SNIPPETS) + "".join(line + "\n" for line in extra_lines))
    return str(path)


def ids(records, key="id"):
    return sorted(r[key] for r in records)


def test_read_and_check_route_every_candidate(tmp_path):
    path = write_snippets(tmp_path / "s.jsonl", ("{not json", json.dumps({"id": "noinputs", "source": ADD,
                                                                           "entry": "add", "inputs": []})))
    with BeamPipeline(options=pipeline_options([])) as p:
        read = p | ReadSnippets([path])
        checked = read.kept | Stage("check_candidate", partial(check_candidate, limits=CandidateLimits()))
        unique = checked.kept | "Dedup" >> DedupExact("dedup_exact", key_fn=input_key)
        assert_that(read.dead | "DeadReasons" >> _reasons(), equal_to([("?:9", "invalid_json"),
                                                                        ("noinputs", "no_inputs")]),
                    label="dead")
        assert_that(checked.rejected | "CheckReasons" >> _reasons(),
                    equal_to([("bad-input#0", "invalid_input"), ("missing-entry#0", "entry_not_found"),
                              ("syntax#0", "syntax_error")]), label="rejected")
        assert_that(unique["kept"] | "KeptIds" >> _ids(),
                    equal_to(["add#0", "add#1", "arity#0", "gen#0", "raises#0"]), label="kept")
        assert_that(unique["rejected"] | "DupReasons" >> _dups(), equal_to([("add-copy#0", "add#0")]),
                    label="dups")


def _reasons():
    import apache_beam as beam

    return beam.Map(lambda r: (r["record_id"].replace(r["source"] or "", "?"), r["reason"]))


def _ids():
    import apache_beam as beam

    return beam.Map(lambda r: r["id"])


def _dups():
    import apache_beam as beam

    return beam.Map(lambda r: (r["record_id"], r["duplicate_of"]))


@pytest.mark.sandbox
def test_trace_candidates_keeps_traces_and_rejects_calls_that_never_started():
    if not bwrap_available():
        pytest.skip("bubblewrap not installed")
    cands = [{"id": "ok#0", "snippet_id": "ok", "input_index": 0, "source": ADD, "entry": "add",
              "inputs": {"args": [1, 2], "kwargs": {}}, "input_hash": "h1"},
             {"id": "arity#0", "snippet_id": "arity", "input_index": 0, "source": ADD, "entry": "add",
              "inputs": {"args": [1], "kwargs": {}}, "input_hash": "h2"},
             {"id": "load#0", "snippet_id": "load", "input_index": 0, "source": "raise SystemExit(3)\n",
              "entry": "add", "inputs": {"args": [], "kwargs": {}}, "input_hash": "h3"}]
    import apache_beam as beam

    with BeamPipeline(options=pipeline_options([])) as p:
        out = p | beam.Create(cands) | TraceCandidates(TraceSettings(), batch_size=8)
        assert_that(out.kept | "Kept" >> beam.Map(lambda r: (r["id"], r["status"], r["return_value"])),
                    equal_to([("ok#0", "complete", "3")]), label="kept")
        assert_that(out.rejected | "Rej" >> beam.Map(lambda r: (r["record_id"], r["reason"])),
                    equal_to([("arity#0", "entry_call_failed"), ("load#0", "snippet_load_failed")]), label="rej")
        assert_that(out.dead, equal_to([]), label="dead")


@pytest.mark.slow
@pytest.mark.sandbox
def test_cli_writes_reconciled_deterministic_outputs(tmp_path):
    if not bwrap_available():
        pytest.skip("bubblewrap not installed")
    path = write_snippets(tmp_path / "s.jsonl", ("{not json",))
    outs = [tmp_path / "a", tmp_path / "b"]
    for out in outs:
        assert main(["traces", "--snippets", path, "--out", str(out), "--quiet"]) == 0
    for name in ("traces.jsonl", "traces.parquet", "sft.jsonl", "sft.parquet", "rejections.jsonl", "manifest.json"):
        assert (outs[0] / name).read_bytes() == (outs[1] / name).read_bytes(), name

    manifest = json.loads((outs[0] / "manifest.json").read_text())
    assert schemas.errors("manifest", manifest) == []
    total = manifest["counts"]["total"]
    assert total == {"input": 10, "emitted": 3, "filtered": 5, "deduplicated": 1, "dead_lettered": 1}
    assert manifest["counts"]["reconciled"] is True
    assert manifest["counts"]["by_kind"]["trace_status"] == {"complete": 2, "error": 1}

    traces = [json.loads(line) for line in (outs[0] / "traces.jsonl").read_text().splitlines()]
    assert [(t["snippet_id"], t["input_index"], t["status"]) for t in traces] == [
        ("add", 0, "complete"), ("add", 1, "complete"), ("raises", 0, "error")]
    assert all(schemas.errors("execution_trace", t) == [] for t in traces)
    assert traces[1]["inputs"] == {"args": [3], "kwargs": {"b": 4}}

    sft = [json.loads(line) for line in (outs[0] / "sft.jsonl").read_text().splitlines()]
    assert sorted({(e["source"], e["task_kind"]) for e in sft}) == [("traces", "debugger_qa"),
                                                                   ("traces", "trace_prediction")]
    assert len(sft) == 6 and all(schemas.errors("sft_example", e) == [] for e in sft)
    assert manifest["counts"]["examples"] == {"debugger_qa": 3, "trace_prediction": 3}
    assert manifest["metrics"]["traces_without_examples"] == {"truncated": 0, "target_too_long": 0}

    rejections = [json.loads(line) for line in (outs[0] / "rejections.jsonl").read_text().splitlines()]
    assert all(schemas.errors("rejection", r) == [] for r in rejections)
    assert sorted((r["stage"], r["reason"]) for r in rejections) == [
        ("check_candidate", "entry_not_found"), ("check_candidate", "invalid_input"),
        ("check_candidate", "syntax_error"), ("dedup_exact", "exact_duplicate"),
        ("read_snippets", "invalid_json"), ("trace", "entry_call_failed"), ("trace", "entry_not_traced")]


def test_cli_rejects_a_missing_snippets_file(tmp_path, capsys):
    assert main(["traces", "--snippets", str(tmp_path / "nope.jsonl"), "--out", str(tmp_path / "o")]) == 2
    assert "nope.jsonl" in capsys.readouterr().err


def test_cli_help_names_every_flag(capsys):
    with pytest.raises(SystemExit):
        main(["traces", "--help"])
    text = capsys.readouterr().out
    for flag in ("--snippets", "--repo", "--out", "--max-steps", "--time-limit", "--batch-size", "--seed"):
        assert flag in text


def test_near_duplicate_programs_are_removed_but_other_inputs_are_kept():
    import signal

    import apache_beam as beam

    from tracemill.beam.dedup import DedupNearDuplicates
    from tracemill.trace import tracer
    from tracemill.trace.record import trace_record
    from tracemill.trace.settings import TracesConfig
    from tracemill.trace.transforms import near_dedup_text

    loop = "def f(n):\n    total = 0\n    for i in range(n):\n        total += i\n    return total\n"
    variants = {"a": (loop, 60), "b": (loop.replace("total = 0", "total = 0  # start"), 60), "c": (loop, 7)}
    previous = signal.signal(signal.SIGALRM, tracer._on_alarm)
    try:
        traces = []
        for key, (src, n) in variants.items():
            res = tracer.run_snippet({"key": key, "source": src, "entry": "f", "args": [n], "kwargs": {}},
                                     dict(tracer.DEFAULT_SETTINGS))
            traces.append(trace_record({"id": f"{key}#0", "snippet_id": key, "input_index": 0, "source": src,
                                        "entry": "f", "inputs": {"args": [n], "kwargs": {}}}, res, {}))
    finally:
        signal.signal(signal.SIGALRM, previous)
    dedup = TracesConfig().dedup
    with BeamPipeline(options=pipeline_options([])) as p:
        out = p | beam.Create(traces) | DedupNearDuplicates(
            "dedup_near", text_fn=near_dedup_text, threshold=dedup.threshold, num_perm=dedup.num_perm,
            ngram=dedup.ngram, seed=dedup.seed)
        assert_that(out["kept"] | "Kept" >> _ids(), equal_to(["a#0", "c#0"]), label="kept")
        assert_that(out["rejected"] | "Dups" >> _dups(), equal_to([("b#0", "a#0")]), label="dups")


def test_a_reused_snippet_id_is_filtered_not_traced_twice(tmp_path):
    import apache_beam as beam

    from tracemill.trace.transforms import RejectDuplicateIds

    path = tmp_path / "s.jsonl"
    path.write_text(json.dumps(SNIPPETS[0]) + "\n" + json.dumps({**SNIPPETS[6], "id": "add"}) + "\n")
    with BeamPipeline(options=pipeline_options([])) as p:
        read = p | ReadSnippets([str(path)])
        checked = read.kept | Stage("check_candidate", partial(check_candidate, limits=CandidateLimits()))
        ids = checked.kept | RejectDuplicateIds()
        assert_that(ids["kept"] | "Kept" >> beam.Map(lambda c: (c["id"], c["entry"])),
                    equal_to([("add#0", "add"), ("add#1", "add")]), label="kept")
        assert_that(ids["rejected"] | "Rej" >> beam.Map(lambda r: (r["record_id"], r["reason"], r["line"])),
                    equal_to([("add#0", "duplicate_id", 2)]), label="rejected")
