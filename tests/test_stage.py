"""The one stage wrapper routes every record to exactly one of kept, rejected, dead."""

import apache_beam as beam
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from tracemill.beam.stage import DEAD, KEPT, REJECTED, Stage, apply_stage
from tracemill.errors import InfraError, RecordError
from tracemill.records import ORIGIN, Rejection


def decide(rec):
    if rec["n"] < 0:
        raise RecordError("negative", path="$.n")
    if rec["n"] == 0:
        raise ZeroDivisionError("bug")
    if rec["n"] > 10:
        return Rejection("too_big", signal=float(rec["n"]), limit=10.0)
    return {**rec, "inv": 1 / rec["n"]}


def recs(*ns):
    return [{"id": f"r{n}", "n": n, ORIGIN: {"kind": "num", "source": "f.jsonl", "line": i + 1}}
            for i, n in enumerate(ns)]


def test_routes_each_record_to_exactly_one_output():
    with TestPipeline() as p:
        out = p | beam.Create(recs(1, 20, -1, 0)) | Stage("decide", decide)
        assert_that(out[KEPT] | "k" >> beam.Map(lambda r: r["id"]), equal_to(["r1"]), label="kept")
        assert_that(out[REJECTED] | "r" >> beam.Map(lambda r: (r["record_id"], r["reason"], r["signal"], r["limit"])),
                    equal_to([("r20", "too_big", 20.0, 10.0)]), label="rejected")
        assert_that(out[DEAD] | "d" >> beam.Map(lambda r: (r["record_id"], r["error"]["type"], r["error"]["path"])),
                    equal_to([("r-1", "RecordError", "$.n"), ("r0", "ZeroDivisionError", None)]), label="dead")


def test_rejection_keeps_origin_and_stage():
    tag, rej = apply_stage(decide, recs(1, 99)[1], "decide")
    assert tag == REJECTED
    assert (rej["source"], rej["line"], rej["stage"], rej["disposition"]) == ("f.jsonl", 2, "decide", "filtered")


def test_infra_errors_are_retried_then_dead_lettered():
    calls = []

    def flaky(rec):
        calls.append(1)
        if len(calls) < 3:
            raise InfraError("sandbox did not start", reason="sandbox_start")
        return rec

    assert apply_stage(flaky, recs(1)[0], "s", infra_retries=2)[0] == KEPT
    calls.clear()
    tag, dead = apply_stage(flaky, recs(1)[0], "s", infra_retries=1)
    assert tag == DEAD and dead["reason"] == "sandbox_start"


def test_side_inputs_reach_the_function():
    with TestPipeline() as p:
        table = p | "t" >> beam.Create([("r1", "one")])
        out = (p | beam.Create(recs(1)) | Stage("join", lambda r, names: {**r, "name": names[r["id"]]},
                                                 names=beam.pvalue.AsDict(table)))
        assert_that(out[KEPT] | beam.Map(lambda r: r["name"]), equal_to(["one"]))
