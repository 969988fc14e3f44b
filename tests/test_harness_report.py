"""SWE-bench v5 report rules, and every difference from the captured SWE-smith harness reports."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tracemill.cli import main as cli_main
from tracemill.verify import harness_report as hr
from tracemill.verify.log_parsers import parse_pytest

FIXTURES = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures"
SWE_SMITH = FIXTURES / "instances" / "swe-smith"
PANDAS = "pandas-dev__pandas.95280573.pr_53652"
PYDANTIC = "pydantic__pydantic.acb0f10f.pr_8316"

INSTANCE = {"instance_id": "demo__demo-1", "FAIL_TO_PASS": ["t.py::test_fix"], "PASS_TO_PASS": ["t.py::test_keep"]}


def _need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"shared fixture {path} absent")
    return path


def _expected(iid: str) -> dict:
    return json.loads(_need(SWE_SMITH / "run_evaluation" / iid / "report.json").read_text())


def _log(iid: str) -> str:
    return _need(SWE_SMITH / "run_evaluation" / iid / "test_output.txt").read_text()


def _instance_from_report(iid: str, report: dict) -> dict:
    ts = report["tests_status"]
    return {"instance_id": iid,
            "FAIL_TO_PASS": ts["FAIL_TO_PASS"]["success"] + ts["FAIL_TO_PASS"]["failure"],
            "PASS_TO_PASS": ts["PASS_TO_PASS"]["success"] + ts["PASS_TO_PASS"]["failure"]}


def test_all_pass_is_resolved():
    v = hr.verdict_from_statuses(INSTANCE, {"t.py::test_fix": "passed", "t.py::test_keep": "passed"})
    assert (v.outcome, v.resolved) == ("resolved", True)


def test_skipped_fail_to_pass_test_fails():
    v = hr.verdict_from_statuses(INSTANCE, {"t.py::test_fix": "skipped", "t.py::test_keep": "passed"})
    assert v.outcome == "unresolved"
    assert v.tests_status["FAIL_TO_PASS"]["failure"] == ["t.py::test_fix"]


def test_missing_pass_to_pass_test_fails():
    v = hr.verdict_from_statuses(INSTANCE, {"t.py::test_fix": "passed"})
    assert v.tests_status["PASS_TO_PASS"]["failure"] == ["t.py::test_keep"] and not v.resolved


def test_xfail_counts_as_success_as_in_swe_bench():
    v = hr.verdict_from_statuses(INSTANCE, {"t.py::test_fix": "passed", "t.py::test_keep": "xfail"})
    assert v.resolved


def test_empty_status_map_without_evidence_is_invalid_not_a_failure():
    v = hr.verdict_from_log(INSTANCE, "Traceback (most recent call last):\nImportError: no module\n")
    assert (v.outcome, v.valid, v.resolved) == ("invalid_log", False, False)


def test_empty_status_map_with_a_real_run_is_unresolved():
    log = "============================= test session starts ==============================\n" \
          "collected 0 items\n============================ no tests ran in 0.01s ============================\n"
    assert hr.verdict_from_log(INSTANCE, log).outcome == "unresolved"


def test_nonzero_exit_without_failures_is_invalid():
    log = "t.py::test_fix PASSED\nt.py::test_keep PASSED\n"
    assert hr.verdict_from_log(INSTANCE, log, exit_code=3).outcome == "invalid_exit_code"
    assert hr.verdict_from_log(INSTANCE, log, exit_code=0).outcome == "resolved"


def test_nonzero_exit_with_a_failure_is_a_normal_unresolved_run():
    log = "t.py::test_fix FAILED\nt.py::test_keep PASSED\n"
    assert hr.verdict_from_log(INSTANCE, log, exit_code=1).outcome == "unresolved"


def test_apply_failure_marker_means_patch_failed():
    log = ">>>>> Patch Apply Failed\n+ : '>>>>> Start Test Output'\nt.py::test_fix PASSED\nt.py::test_keep PASSED\n" \
          "+ : '>>>>> End Test Output'\n"
    v = hr.verdict_from_log(INSTANCE, log)
    assert (v.outcome, v.resolved, v.report()["demo__demo-1"]["patch_successfully_applied"]) == \
        ("patch_failed", False, False)


def test_timeout_and_env_markers():
    assert hr.verdict_from_log(INSTANCE, ">>>>> Tests Timed Out\n").outcome == "timeout"
    assert hr.verdict_from_log(INSTANCE, ">>>>> Reset Failed\n").outcome == "env_error"


def test_no_patch_is_not_resolved():
    assert hr.verdict_from_log(INSTANCE, "", patch_exists=False).report()["demo__demo-1"]["patch_is_None"]


def test_json_encoded_test_lists_are_decoded():
    inst = {**INSTANCE, "FAIL_TO_PASS": json.dumps(["t.py::test_fix"]), "PASS_TO_PASS": "[]"}
    assert hr.verdict_from_statuses(inst, {"t.py::test_fix": "passed"}).resolved


# --- captured SWE-smith harness runs -----------------------------------------------------------

def test_pandas_eval_matches_harness_test_lists():
    instance = json.loads(_need(SWE_SMITH / f"{PANDAS}.json").read_text())
    expected = _expected(PANDAS)
    ours = hr.verdict_from_log(instance, _log(PANDAS)).report()[PANDAS]
    assert ours["tests_status"]["FAIL_TO_PASS"] == expected["tests_status"]["FAIL_TO_PASS"]
    assert ours["tests_status"]["PASS_TO_PASS"] == expected["tests_status"]["PASS_TO_PASS"]


def test_pandas_report_claims_resolved_although_its_patch_did_not_apply():
    """The documented difference: the harness report says patch_successfully_applied=false AND
    resolved=true. Under SWE-bench's rule a patch that did not apply is never resolved, so grading the
    same log with the apply status the harness recorded says patch_failed / not resolved."""
    instance = json.loads(_need(SWE_SMITH / f"{PANDAS}.json").read_text())
    expected = _expected(PANDAS)
    assert expected["patch_successfully_applied"] is False and expected["resolved"] is True
    ours = hr.verdict_from_log(instance, _log(PANDAS), patch_applied=expected["patch_successfully_applied"])
    assert (ours.outcome, ours.resolved) == ("patch_failed", False)
    assert hr.compare_reports(ours.report()[PANDAS], expected) == [
        "resolved: tracemill=False harness=True", "tests_status: tracemill graded no tests (outcome patch_failed)"]


def test_pandas_log_itself_carries_no_apply_failure():
    # Why `--patch-applied auto` disagrees with the report's flag: the captured log has no apply marker
    # and its FAIL_TO_PASS tests pass (they fail in the validation run of the buggy code), so only the
    # report's flag says the patch failed. SWE-smith's get_eval_report never sets that flag to true.
    log = _log(PANDAS)
    parsed = parse_pytest(log)
    assert not parsed.apply_failed and parsed.markers_found
    ours = hr.verdict_from_log(json.loads((SWE_SMITH / f"{PANDAS}.json").read_text()), log).report()[PANDAS]
    assert hr.compare_reports(ours, _expected(PANDAS)) == ["patch_successfully_applied: tracemill=True harness=False"]


def test_pydantic_eval_has_the_same_apply_flag_and_identical_test_lists():
    expected = _expected(PYDANTIC)
    instance = _instance_from_report(PYDANTIC, expected)  # no instance file shipped for pydantic
    ours = hr.verdict_from_log(instance, _log(PYDANTIC)).report()[PYDANTIC]
    assert hr.compare_reports(ours, expected) == ["patch_successfully_applied: tracemill=True harness=False"]
    assert ours["resolved"] is expected["resolved"] is True


def test_validation_logs_give_the_expected_fail_to_pass_and_pass_to_pass():
    # SWE-smith names are inverted from the task's point of view: test_output.txt ran with the bug
    # applied (the state before the gold fix), test_output_pre_gold.txt ran the clean reference.
    before = parse_pytest(_need(SWE_SMITH / "run_validation" / "test_output.txt").read_text()).statuses
    after = parse_pytest(_need(SWE_SMITH / "run_validation" / "test_output_pre_gold.txt").read_text()).statuses
    expected = json.loads((SWE_SMITH / "run_validation" / "report.json").read_text())
    ours = hr.validation_report(before, after)
    for key in ("FAIL_TO_PASS", "PASS_TO_PASS", "FAIL_TO_FAIL", "PASS_TO_FAIL"):
        assert sorted(ours[key]) == sorted(expected[key]), key
    assert ours["MISSING_AFTER"] == []


def test_validation_failing_test_that_vanishes_is_not_fail_to_pass():
    ours = hr.validation_report({"a::t": "failed", "a::u": "failed"}, {"a::u": "passed"})
    assert ours["FAIL_TO_PASS"] == ["a::u"] and ours["MISSING_AFTER"] == ["a::t"]


def test_grade_cli_prints_report_and_exit_codes(tmp_path, capsys):
    inst = tmp_path / "inst.json"
    inst.write_text(json.dumps(INSTANCE))
    log = tmp_path / "test_output.txt"
    log.write_text("t.py::test_fix PASSED\nt.py::test_keep FAILED\n")
    assert cli_main(["grade", "--instance", str(inst), "--log", str(log)]) == 1
    report = json.loads(capsys.readouterr().out)["report"]["demo__demo-1"]
    assert report["tests_status"]["PASS_TO_PASS"]["failure"] == ["t.py::test_keep"]
    log.write_text("nothing ran\n")
    assert cli_main(["grade", "--instance", str(inst), "--log", str(log)]) == 3


def test_grade_cli_compare_takes_the_reports_apply_status_for_pandas(capsys):
    """The pandas log records no apply step, so `grade --compare` takes the harness report's own
    patch_successfully_applied=false and, by SWE-bench's rule, says patch_failed / not resolved."""
    path = _need(SWE_SMITH / f"{PANDAS}.json")
    run = SWE_SMITH / "run_evaluation" / PANDAS
    rc = cli_main(["grade", "--instance", str(path), "--log", str(run / "test_output.txt"),
                   "--compare", str(run / "report.json")])
    out = json.loads(capsys.readouterr().out)
    assert rc == 1 and out["apply_status_from"] == "compared report"
    assert out["report"][PANDAS]["outcome"] == "patch_failed"
    assert out["differences"] == ["resolved: tracemill=False harness=True",
                                  "tests_status: tracemill graded no tests (outcome patch_failed)"]


def test_grade_cli_without_apply_evidence_assumes_applied(capsys):
    path = _need(SWE_SMITH / f"{PANDAS}.json")
    run = SWE_SMITH / "run_evaluation" / PANDAS
    rc = cli_main(["grade", "--instance", str(path), "--log", str(run / "test_output.txt")])
    out = json.loads(capsys.readouterr().out)
    assert (rc, out["apply_status_from"], out["report"][PANDAS]["resolved"]) == (0, "assumed (tests ran)", True)


def test_grade_cli_missing_instance_field_is_a_config_error(tmp_path, capsys):
    inst = tmp_path / "inst.json"
    inst.write_text(json.dumps({"instance_id": "x"}))
    assert cli_main(["grade", "--instance", str(inst), "--log", str(inst)]) == 2
    assert "lacks field 'FAIL_TO_PASS'" in capsys.readouterr().err


def test_grade_cli_picks_one_instance_of_a_swe_bench_list_file(tmp_path, capsys):
    path = _need(FIXTURES / "instances" / "swe-bench" / "swe-bench-dev-easy.json")
    inst = json.loads(path.read_text())[0]
    f2p, p2p = hr.as_list(inst["FAIL_TO_PASS"]), hr.as_list(inst["PASS_TO_PASS"])
    assert f2p and p2p
    log = tmp_path / "test_output.txt"
    log.write_text("".join(f"{t} PASSED\n" for t in f2p + p2p) + "=== 3 passed in 0.1s ===\n")
    rc = cli_main(["grade", "--instance", str(path), "--instance-id", inst["instance_id"], "--log", str(log)])
    report = json.loads(capsys.readouterr().out)["report"][inst["instance_id"]]
    assert rc == 0 and report["tests_status"]["FAIL_TO_PASS"]["success"] == f2p


@pytest.mark.sandbox
def test_live_sandboxed_pytest_run_is_graded_by_the_same_rules(tmp_path):
    from tracemill.verify.pytest_runner import run_pytest

    (tmp_path / "test_m.py").write_text(
        "import pytest\n\ndef test_fix():\n    assert 1 + 1 == 2\n\n"
        "def test_keep():\n    assert 'a'.upper() == 'A'\n\n"
        "@pytest.mark.skip(reason='not here')\ndef test_skipped():\n    pass\n")
    inst = {"instance_id": "live-1", "FAIL_TO_PASS": ["test_m.py::test_fix"], "PASS_TO_PASS": ["test_m.py::test_keep"]}
    run = run_pytest(tmp_path, ["test_m.py"])
    assert hr.verdict_from_pytest_run(inst, run).outcome == "resolved"
    skipped = {**inst, "FAIL_TO_PASS": ["test_m.py::test_skipped"]}
    v = hr.verdict_from_pytest_run(skipped, run)
    assert (v.outcome, v.tests_status["FAIL_TO_PASS"]["failure"]) == ("unresolved", ["test_m.py::test_skipped"])
