"""Log parsers on literal pytest/go logs and on captured SWE-smith harness logs."""

from __future__ import annotations

from pathlib import Path

import pytest

from tracemill.verify import log_parsers as lp

FIXTURES = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures"
SWE_SMITH = FIXTURES / "instances" / "swe-smith"


def _fixture(rel: str) -> str:
    path = SWE_SMITH / rel
    if not path.exists():
        pytest.skip(f"shared fixture {path} absent")
    return path.read_text(encoding="utf-8")


VERBOSE_AND_SUMMARY = """\
+ : '>>>>> Start Test Output'
+ pytest -rA --tb=no -v tests
============================= test session starts ==============================
collected 5 items

tests/test_a.py::test_ok PASSED                                          [ 20%]
tests/test_a.py::test_bad FAILED                                         [ 40%]
tests/test_a.py::test_param[a - b] PASSED                                [ 60%]
tests/test_a.py::TestK::test_skip SKIPPED (no db)                        [ 80%]
tests/test_a.py::test_teardown PASSED                                    [100%]
tests/test_a.py::test_teardown ERROR                                     [100%]
=========================== short test summary info ============================
PASSED tests/test_a.py::test_ok
PASSED tests/test_a.py::test_teardown
FAILED tests/test_a.py::test_bad - AssertionError: assert 1 == 2
FAILED tests/test_a.py::test_param[x - y] - ValueError: boom - again
ERROR tests/test_a.py::test_teardown - RuntimeError: teardown
SKIPPED [1] tests/test_a.py:12: no db
XFAIL tests/test_a.py::test_known - reason: later
=========== 2 failed, 2 passed, 1 skipped, 1 xfailed, 1 error in 0.12s ===========
+ : '>>>>> End Test Output'
"""


def test_pytest_verbose_and_rA_summary_lines_give_statuses():
    parsed = lp.parse_pytest(VERBOSE_AND_SUMMARY)
    assert parsed.statuses["tests/test_a.py::test_ok"] == "passed"
    assert parsed.statuses["tests/test_a.py::test_bad"] == "failed"
    assert parsed.statuses["tests/test_a.py::test_known"] == "xfail"
    assert parsed.markers_found and parsed.suite_ran


def test_parametrized_ids_keep_separator_inside_brackets():
    parsed = lp.parse_pytest(VERBOSE_AND_SUMMARY)
    assert parsed.statuses["tests/test_a.py::test_param[a - b]"] == "passed"
    assert parsed.statuses["tests/test_a.py::test_param[x - y]"] == "failed"


def test_teardown_error_is_not_downgraded_to_passed_by_summary_order():
    assert lp.parse_pytest(VERBOSE_AND_SUMMARY).statuses["tests/test_a.py::test_teardown"] == "error"


def test_skipped_file_line_summary_is_not_a_test_id():
    parsed = lp.parse_pytest(VERBOSE_AND_SUMMARY)
    assert not any(k.startswith("[1]") or k.endswith(":12:") for k in parsed.statuses)
    assert parsed.statuses["tests/test_a.py::TestK::test_skip"] == "skipped"  # `SKIPPED (reason)` form


def test_empty_log_has_no_evidence_the_suite_ran():
    parsed = lp.parse_pytest("+ pytest tests\nbash: pytest: command not found\n")
    assert parsed.statuses == {} and not parsed.suite_ran


def test_no_tests_ran_banner_is_evidence():
    log = "============================= test session starts ==============================\n" \
          "collected 0 items\n\n============================ no tests ran in 0.01s =============================\n"
    parsed = lp.parse_pytest(log)
    assert parsed.statuses == {} and parsed.suite_ran


def test_harness_markers_are_detected():
    parsed = lp.parse_pytest(">>>>> Patch Apply Failed\nerror: patch failed: a.py:3\n")
    assert parsed.apply_failed and not parsed.suite_ran


def test_xdist_lines_are_read():
    parsed = lp.parse_pytest("[gw1] [ 50%] PASSED tests/t.py::test_x \n[gw0] [100%] FAILED tests/t.py::test_y \n")
    assert parsed.statuses == {"tests/t.py::test_x": "passed", "tests/t.py::test_y": "failed"}


def test_gotest_subtests_and_skips():
    log = "=== RUN   TestA\n--- PASS: TestA (0.00s)\n=== RUN   TestB\n=== RUN   TestB/sub\n" \
          "    --- FAIL: TestB/sub (0.01s)\n--- FAIL: TestB (0.01s)\n--- SKIP: TestC (0.00s)\nFAIL\n"
    parsed = lp.parse_gotest(log)
    assert parsed.statuses == {"TestA": "passed", "TestB/sub": "failed", "TestB": "failed", "TestC": "skipped"}
    assert parsed.suite_ran


def test_unknown_format_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown log format 'junit'"):
        lp.parse_log("", "junit")


def test_real_django_money_log_matches_pytest_summary_counts():
    # The log's own summary: "9 failed, 420 passed, 2 skipped" (one skip is a module skipped at collection).
    parsed = lp.parse_pytest(_fixture("test_output/django-money__django-money.835c1ab8.combine_file__7znr0kum.txt"))
    counts = {s: list(parsed.statuses.values()).count(s) for s in ("passed", "failed", "skipped")}
    assert counts == {"passed": 420, "failed": 9, "skipped": 1}


def test_real_gin_go_log():
    parsed = lp.parse_gotest(_fixture("test_output/gin-gonic__gin.3c12d2a8.lm_rewrite__4pb48n1g.txt"))
    assert parsed.statuses["TestRouteStaticNoListing"] == "failed"
    assert parsed.statuses["TestPathCleanMallocs"] == "skipped"
    assert list(parsed.statuses.values()).count("failed") == 1


def test_real_pydantic_log_read_through_uv_banner():
    # pytest-pretty style "Results (0.77s): 169 passed" summary and a `uv run` preamble.
    parsed = lp.parse_pytest(_fixture("run_evaluation/pydantic__pydantic.acb0f10f.pr_8316/test_output.txt"))
    assert len(parsed.statuses) == 169 and set(parsed.statuses.values()) == {"passed"}
