"""Task-factory composites under TestPipeline: parallel validation, exact patch dedup, seeded cap."""

import operator

import apache_beam as beam
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from tracemill.beam.dedup import DedupExact
from tracemill.beam.stage import DEAD, KEPT, REJECTED
from tracemill.records import Rejection
from tracemill.taskgen.transforms import KeepFirstN, ValidateInParallel, normalized_patch_text, patch_text

PATCH = "diff --git a/x.py b/x.py\nindex 1..2\n--- a/x.py\n+++ b/x.py\n@@ -1 +1 @@\n-a = 1\n+a = 2\n"


def judge(rec):
    if rec["n"] < 0:
        raise ValueError("negative")
    return rec if rec["n"] % 2 == 0 else Rejection("odd", signal=rec["n"])


def test_validate_in_parallel_routes_each_record_once():
    recs = [{"instance_id": f"t{i}", "n": i} for i in (-1, 0, 1, 2, 3, 4)]
    with TestPipeline() as p:
        out = p | beam.Create(recs) | ValidateInParallel("validate", judge, workers=3, batch_size=4)
        assert_that(out[KEPT] | "k" >> beam.Map(lambda r: r["instance_id"]), equal_to(["t0", "t2", "t4"]),
                    label="kept")
        assert_that(out[REJECTED] | "r" >> beam.Map(lambda r: (r["record_id"], r["reason"])),
                    equal_to([("t1", "odd"), ("t3", "odd")]), label="rejected")
        assert_that(out[DEAD] | "d" >> beam.Map(lambda r: (r["record_id"], r["error"]["type"])),
                    equal_to([("t-1", "ValueError")]), label="dead")


def test_normalized_hash_ignores_index_lines_and_hunk_offsets():
    moved = PATCH.replace("index 1..2", "index 9..8").replace("@@ -1 +1 @@", "@@ -5 +5 @@")
    assert normalized_patch_text(PATCH) == normalized_patch_text(moved)
    assert normalized_patch_text(PATCH) != normalized_patch_text(PATCH.replace("a = 2", "a = 3"))


def test_patch_dedup_keeps_smallest_id_and_names_it():
    recs = [{"instance_id": "b", "patch": PATCH}, {"instance_id": "a", "patch": PATCH.replace("index 1..2", "")},
            {"instance_id": "c", "patch": PATCH.replace("a = 2", "a = 3")}]
    with TestPipeline() as p:
        out = p | beam.Create(recs) | DedupExact("dedup", patch_text)
        assert_that(out[KEPT] | "k" >> beam.Map(lambda r: r["instance_id"]), equal_to(["a", "c"]), label="kept")
        assert_that(out[REJECTED] | "r" >> beam.Map(lambda r: (r["record_id"], r["duplicate_of"], r["disposition"])),
                    equal_to([("b", "a", "deduplicated")]), label="dups")


def test_keep_first_n_is_a_function_of_rank_not_arrival():
    recs = [{"instance_id": f"t{i}", "seq": s} for i, s in enumerate([5, 1, 4, 2, 3])]
    with TestPipeline() as p:
        out = p | beam.Create(recs) | KeepFirstN("cap", 2, rank=operator.itemgetter("seq"))
        assert_that(out[KEPT] | "k" >> beam.Map(lambda r: r["seq"]), equal_to([1, 2]), label="kept")
        assert_that(out[REJECTED] | "r" >> beam.Map(lambda r: r["reason"]), equal_to(["over_max_tasks"] * 3),
                    label="over")
