"""FAIL_TO_PASS / PASS_TO_PASS derivation from repeated runs: flaky tests, collection errors."""

from tracemill.taskgen.outcomes import derive, stable

A, B, C, F = "t.py::test_a", "t.py::test_b", "t.py::test_c", "t.py::test_flaky"


def test_stable_separates_flaky_tests():
    outcomes, flaky = stable([{A: "passed", F: "passed"}, {A: "passed", F: "failed"}, {A: "passed"}])
    assert outcomes == {A: "passed"} and flaky == {F}


def test_derive_fail_to_pass_and_pass_to_pass():
    before = [{A: "failed", B: "passed", C: "error"}] * 3
    after = [{A: "passed", B: "passed", C: "failed"}] * 3
    d = derive(before, after)
    assert d.fail_to_pass == [A] and d.pass_to_pass == [B] and d.flaky == []


def test_flaky_tests_enter_neither_list_and_are_recorded():
    before = [{A: "failed", F: "passed"}, {A: "failed", F: "failed"}, {A: "failed", F: "passed"}]
    after = [{A: "passed", F: "passed"}] * 3
    d = derive(before, after)
    assert d.fail_to_pass == [A] and d.pass_to_pass == [] and d.flaky == [F]


def test_collection_error_is_reported_with_affected_tests():
    synthetic = "tests/test_new.py::tests.test_new"
    before = [{synthetic: "error", "tests/test_old.py::test_x": "passed"}] * 3
    msgs = [{synthetic: "collection failure"}] * 3
    after = [{"tests/test_new.py::test_one": "passed", "tests/test_new.py::test_two": "passed",
              "tests/test_old.py::test_x": "passed"}] * 3
    d = derive(before, after, msgs)
    assert d.fail_to_pass == ["tests/test_new.py::test_one", "tests/test_new.py::test_two"]
    assert d.collection_errors == [{"module": "tests/test_new.py", "tests_affected": 2}]
    assert synthetic not in d.fail_to_pass + d.pass_to_pass
