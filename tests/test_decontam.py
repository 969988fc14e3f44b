"""Decontamination against SWE-bench-style instances, HumanEval-style prompts and a deny list."""

from __future__ import annotations

import json
from pathlib import Path

import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from tracemill.beam.dedup import FLAGGED, Decontaminate
from tracemill.beam.stage import DEAD, KEPT, REJECTED
from tracemill.dedup.decontamination import (
    DecontaminationIndex,
    DecontamSources,
    load_deny_list,
    load_humaneval,
    load_swe_bench,
)
from tracemill.errors import ConfigError
from tracemill.records import ORIGIN

FIXTURES = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures"

PATCH = """diff --git a/src/ledger/books.py b/src/ledger/books.py
--- a/src/ledger/books.py
+++ b/src/ledger/books.py
@@ -40,7 +40,9 @@ def balance(self, account, until=None):
         entries = self.entries_for(account)
         if until is not None:
-            entries = [e for e in entries if e.date < until]
+            entries = [e for e in entries if e.date <= until]
+        if not entries:
+            return Decimal("0")
         return sum(e.amount for e in entries)
"""
PROBLEM = (
    "Ledger.balance excludes entries dated exactly on the `until` day. When an account has an entry "
    "posted on the cut-off date, balance(account, until=that_date) silently drops it, so month-end "
    "reports disagree with the statement export. Expected: entries on the cut-off date are included, "
    "and an account without entries returns Decimal('0') rather than the integer 0."
)
PROMPT = '''def rolling_max(numbers: list[int]) -> list[int]:
    """Return the running maximum of `numbers`: element i is max(numbers[:i + 1]).
    >>> rolling_max([1, 3, 2, 5, 4])
    [1, 3, 3, 5, 5]
    """
'''
SOLUTION = """    result, best = [], None
    for n in numbers:
        best = n if best is None else max(best, n)
        result.append(best)
    return result
"""


@pytest.fixture()
def sources(tmp_path) -> DecontamSources:
    swe = tmp_path / "swe.jsonl"
    swe.write_text(json.dumps({
        "repo": "acme/ledger", "instance_id": "acme__ledger-101", "base_commit": "0" * 40,
        "patch": PATCH, "test_patch": "", "problem_statement": PROBLEM,
        "FAIL_TO_PASS": json.dumps(["tests/test_books.py::test_until_inclusive"]), "PASS_TO_PASS": "[]",
    }) + "\n")
    he = tmp_path / "he.jsonl"
    he.write_text(json.dumps({"task_id": "Toy/7", "prompt": PROMPT, "canonical_solution": SOLUTION,
                              "entry_point": "rolling_max"}) + "\n")
    deny = tmp_path / "deny.txt"
    deny.write_text("# held out\nrepo:secret/held-out\nother/repo\ninstance:foo__bar-1\nbaz__qux-2\n")
    return DecontamSources(swe_bench=(str(swe),), humaneval=(str(he),), deny_lists=(str(deny),))


def test_swe_bench_loader_parses_json_encoded_test_lists(sources):
    (item,) = load_swe_bench(sources.swe_bench[0])
    assert item.key == "swe-bench:acme__ledger-101" and item.repo == "acme/ledger"
    assert item.tests == ("tests/test_books.py::test_until_inclusive",)
    assert set(item.texts) == {"patch", "problem_statement"}  # the empty test_patch is not indexed


def test_swe_bench_fixture_files_load():
    files = sorted((FIXTURES / "instances" / "swe-bench").glob("swe-bench-*.json"))
    if not files:
        pytest.skip(f"shared fixtures not present at {FIXTURES}")
    items = [it for f in files for it in load_swe_bench(str(f))]
    assert items and all(it.tests and it.texts.get("patch") for it in items)
    index = DecontaminationIndex(items)
    target = items[0]
    found = index.match({"response": f"I applied this:\n{target.texts['patch']}\nDone."})
    assert found and found.item == target.key


def test_humaneval_solution_is_indexed_as_it_appears_in_code(sources):
    (item,) = load_humaneval(sources.humaneval[0])
    assert item.key == "humaneval:Toy/7" and item.texts["solution"] == PROMPT + SOLUTION


def test_deny_list_entries(sources):
    deny = load_deny_list(sources.deny_lists[0])
    assert deny.repos == {"secret/held-out", "other/repo"}
    assert deny.instance_ids == {"foo__bar-1", "baz__qux-2"}


@pytest.fixture()
def index(sources) -> DecontaminationIndex:
    return DecontaminationIndex.from_sources(sources)


def test_pasted_benchmark_patch_is_a_near_duplicate(index):
    found = index.match({"patch": PATCH.replace("<= until", "<= until  ")})
    assert (found.check, found.item, found.reason) == ("near_duplicate", "swe-bench:acme__ledger-101",
                                                       "benchmark_near_duplicate")
    assert found.signal >= 0.8


def test_benchmark_text_inside_a_longer_record_is_an_ngram_overlap(index):
    preamble = " ".join(f"Step {i}: the parser reads field{i} and stores it in slot{i * 7}." for i in range(60))
    long_text = preamble + "\n" + PROBLEM
    found = index.match({"problem_statement": long_text})
    assert (found.check, found.item, found.item_field) == ("ngram_overlap", "swe-bench:acme__ledger-101",
                                                           "problem_statement")
    assert found.signal == 1.0


def test_humaneval_prompt_in_training_code_is_found(index):
    code = "import itertools\n\n" + PROMPT + SOLUTION + "\n\ndef other():\n    return 1\n"
    found = index.match({"code": code})
    assert found.item == "humaneval:Toy/7"


def test_repo_and_instance_ids_are_denied(index):
    assert index.match({}, repo="secret/held-out").item == "repo:secret/held-out"
    assert index.match({}, instance_id="baz__qux-2").item == "instance:baz__qux-2"
    # A record *of* an evaluation instance is contaminated even without a deny-list entry.
    assert index.match({}, instance_id="acme__ledger-101").item == "swe-bench:acme__ledger-101"


def test_unrelated_code_is_clean(index):
    assert index.match({"code": "def add(a, b):\n    return a + b\n", "patch": PROMPT[:30]}) is None


def test_no_sources_is_a_config_error():
    with pytest.raises(ConfigError):
        DecontaminationIndex.from_sources(DecontamSources())


def _records():
    def rec(rid, **fields):
        return {"id": rid, **fields, ORIGIN: {"kind": "task", "source": "tasks.jsonl", "line": int(rid[1:])}}

    return [
        rec("r1", problem_statement="Add a --json flag to the report command.", patch="", repo="acme/cli"),
        rec("r2", problem_statement=PROBLEM, patch="", repo="acme/other"),
        rec("r3", problem_statement="x", patch="", repo="secret/held-out"),
        rec("r4", problem_statement=12, patch="", repo="acme/cli"),
    ]


def _text_fns():
    def problem(r):
        if not isinstance(r["problem_statement"], str):
            raise TypeError("problem_statement must be a string")
        return r["problem_statement"]

    return {"problem_statement": problem, "patch": lambda r: r["patch"]}


def test_decontaminate_drops_matches_with_the_benchmark_item_as_reason(sources):
    with TestPipeline() as p:
        out = p | beam.Create(_records()) | Decontaminate("decontam", sources, _text_fns())
        assert_that(out[KEPT] | "Kept" >> beam.Map(lambda r: r["id"]), equal_to(["r1"]), label="kept")
        assert_that(
            out[REJECTED] | "Rej" >> beam.Map(lambda r: (r["record_id"], r["reason"], r["duplicate_of"],
                                                         r["disposition"])),
            equal_to([("r2", "benchmark_near_duplicate", "swe-bench:acme__ledger-101", "filtered"),
                      ("r3", "benchmark_deny_list", "repo:secret/held-out", "filtered")]),
            label="rejected")
        assert_that(out[DEAD] | "Dead" >> beam.Map(lambda r: (r["record_id"], r["error"]["type"])),
                    equal_to([("r4", "TypeError")]), label="dead")


def test_decontaminate_flag_mode_keeps_records_and_reports_matches(sources):
    with TestPipeline() as p:
        out = p | beam.Create(_records()[:3]) | Decontaminate("decontam", sources, _text_fns(), mode="flag")
        assert_that(out[KEPT] | "Kept" >> beam.Map(lambda r: r["id"]), equal_to(["r1", "r2", "r3"]),
                    label="kept")
        assert_that(out[FLAGGED] | "Flag" >> beam.Map(lambda r: r["record_id"]), equal_to(["r2", "r3"]),
                    label="flagged")
        assert_that(out[REJECTED], equal_to([]), label="rejected")
