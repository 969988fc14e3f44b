"""DedupExact and DedupNearDuplicates as Beam composites: every record kept, rejected or dead, once."""

from __future__ import annotations

import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from tracemill.beam.dedup import DedupExact, DedupNearDuplicates
from tracemill.beam.stage import DEAD, KEPT, REJECTED
from tracemill.records import ORIGIN

BASE = """def parse_rows(path, limit=None):
    rows = []
    with open(path) as handle:
        for index, line in enumerate(handle):
            if limit is not None and index >= limit:
                break
            rows.append(line.rstrip().split(","))
    return rows
"""
OTHER = """class Cache:
    def __init__(self, size):
        self.size = size
        self.items = {}

    def get(self, key, default=None):
        return self.items.get(key, default)

    def put(self, key, value):
        if len(self.items) >= self.size:
            self.items.pop(next(iter(self.items)))
        self.items[key] = value
"""


def rec(rid: str, text, line: int) -> dict:
    return {"id": rid, "text": text, ORIGIN: {"kind": "doc", "source": "in.jsonl", "line": line}}


def _reduced(rejections):
    return [(r["record_id"], r["reason"], r["disposition"], r["duplicate_of"]) for r in rejections]


def test_exact_duplicates_keep_the_smallest_id():
    records = [rec("c", BASE, 1), rec("a", BASE, 2), rec("b", OTHER, 3), rec("d", BASE, 4)]
    with TestPipeline() as p:
        out = p | beam.Create(records) | DedupExact("exact_dedup", key_fn=lambda r: r["text"])
        assert_that(out[KEPT] | "KeptIds" >> beam.Map(lambda r: r["id"]), equal_to(["a", "b"]), label="kept")
        assert_that(
            out[REJECTED] | "Rej" >> beam.Map(lambda r: (*_reduced([r])[0], r["similarity"], r["stage"])),
            equal_to([("c", "exact_duplicate", "deduplicated", "a", 1.0, "exact_dedup"),
                      ("d", "exact_duplicate", "deduplicated", "a", 1.0, "exact_dedup")]),
            label="rejected",
        )
        assert_that(out[DEAD], equal_to([]), label="dead")


def test_exact_kept_records_pass_through_unchanged():
    records = [rec("a", BASE, 1), rec("b", BASE, 2)]
    with TestPipeline() as p:
        out = p | beam.Create(records) | DedupExact("exact_dedup", key_fn=lambda r: r["text"])
        assert_that(out.kept, equal_to([records[0]]))


def near_records():
    near = BASE.replace("rows.append", "rows.insert(0,") .replace("limit=None", "limit=100")
    return [
        rec("t1", BASE, 1),
        rec("t2", near, 2),  # a small edit of t1
        rec("t0", OTHER, 3),
        rec("t3", OTHER + "\n# trailing comment\n", 4),  # OTHER plus a few tokens
        rec("t4", "", 5),  # no tokens: never a candidate
        rec("t5", None, 6),  # text_fn raises: dead-lettered
    ]


@pytest.mark.parametrize("verify", ["exact", "estimated"])
def test_near_duplicates_reject_losers_with_keeper_and_similarity(verify):
    def text(r):
        if r["text"] is None:
            raise ValueError("no text")
        return r["text"]

    with TestPipeline() as p:
        out = p | beam.Create(near_records()) | DedupNearDuplicates(
            "near_dedup", text_fn=text, threshold=0.5, verify=verify)
        assert_that(out[KEPT] | "KeptIds" >> beam.Map(lambda r: r["id"]), equal_to(["t0", "t1", "t4"]),
                    label="kept")
        assert_that(out[REJECTED] | "Rej" >> beam.Map(lambda r: _reduced([r])[0]),
                    equal_to([("t2", "near_duplicate", "deduplicated", "t1"),
                              ("t3", "near_duplicate", "deduplicated", "t0")]), label="rejected")
        assert_that(out[REJECTED] | "Sim" >> beam.Map(lambda r: 0.5 <= r["similarity"] < 1.0),
                    equal_to([True, True]), label="similarity")
        assert_that(out[DEAD] | "DeadIds" >> beam.Map(lambda r: (r["record_id"], r["error"]["type"])),
                    equal_to([("t5", "ValueError")]), label="dead")


def test_near_duplicate_chain_collapses_to_one_keeper():
    # Each copy edits the previous one: t_k is similar to t_{k-1}, not necessarily to t_0.
    import random

    from tracemill.dedup.corpus import base_document, mutate, render

    rng = random.Random(3)
    toks = base_document(rng, 300)
    chain = []
    for i in range(6):
        chain.append(rec(f"z{5 - i}", render(toks), i))  # the keeper (smallest id) is at the end
        toks = mutate(rng, toks, 0.01)
    with TestPipeline() as p:
        out = p | beam.Create(chain) | DedupNearDuplicates("near_dedup", text_fn=lambda r: r["text"],
                                                          threshold=0.7, rounds=4)
        assert_that(out[KEPT] | "KeptIds" >> beam.Map(lambda r: r["id"]), equal_to(["z0"]), label="kept")
        assert_that(out[REJECTED] | "Of" >> beam.Map(lambda r: r["duplicate_of"]), equal_to(["z0"] * 5),
                    label="rejected")


@pytest.mark.parametrize("reverse", [False, True])
def test_near_duplicate_similarity_is_exact_jaccard_in_any_input_order(reverse):
    from tracemill.dedup.shingles import shingle_hashes
    from tracemill.dedup.similarity import exact_jaccard

    records = near_records()[:4]
    if reverse:
        records.reverse()
    texts = {r["id"]: r["text"] for r in records}
    expected = [
        (loser, keeper, round(exact_jaccard(shingle_hashes(texts[loser]), shingle_hashes(texts[keeper])), 6))
        for loser, keeper in (("t2", "t1"), ("t3", "t0"))
    ]
    with TestPipeline() as p:
        out = p | beam.Create(records) | DedupNearDuplicates("near_dedup", text_fn=lambda r: r["text"],
                                                            threshold=0.5)
        assert_that(out[REJECTED] | beam.Map(lambda r: (r["record_id"], r["duplicate_of"], r["similarity"])),
                    equal_to(expected))
