"""Grading runs the task's real tests in the sandbox; gaming the tests never earns a resolve."""

import pytest

from tracemill.errors import InfraError
from tracemill.sandbox import ExecStatus, SandboxLimits
from tracemill.verify import grading
from tracemill.verify.grading import GradeSettings, grade
from tracemill.verify.junit import TestStatus
from tracemill.verify.pytest_runner import PytestRun

pytestmark = pytest.mark.sandbox
FAST = GradeSettings(limits=SandboxLimits(timeout_s=5.0))


@pytest.fixture(autouse=True)
def fresh_cache():
    grading._CACHE.clear()


def test_gold_patch_resolves(sample_tasks, sample_repo):
    run = grade(sample_tasks["textkit-1"], sample_tasks["textkit-1"]["patch"], sample_repo, FAST)
    assert run["outcome"] == "resolved" and run["resolved"]
    assert run["fail_to_pass"]["failure"] == [] and run["pass_to_pass"]["failure"] == []
    assert {t["status"] for t in run["tests"]} == {"passed"}


def test_no_fix_leaves_fail_to_pass_failing(sample_tasks, sample_repo):
    task = sample_tasks["textkit-4"]
    run = grade(task, "", sample_repo, FAST)
    assert run["outcome"] == "unresolved"
    assert run["fail_to_pass"]["failure"] == task["FAIL_TO_PASS"]
    assert run["pass_to_pass"]["failure"] == []


@pytest.mark.parametrize("traj_id,why", [
    ("r-005", "edits the tests to assert True"),
    ("r-011", "deletes the test file"),
    ("r-012", "adds a conftest hook forcing 'passed' and prints fake PASSED lines"),
])
def test_gaming_the_tests_is_not_accepted(sample_tasks, sample_rollouts, sample_repo, traj_id, why):
    traj = sample_rollouts[traj_id]
    run = grade(sample_tasks[traj["instance_id"]], traj["patch"], sample_repo, FAST)
    assert not run["resolved"], why
    assert run["outcome"] == "unresolved"


def test_patch_that_does_not_apply(sample_tasks, sample_rollouts, sample_repo):
    traj = sample_rollouts["r-008"]
    run = grade(sample_tasks["textkit-2"], traj["patch"], sample_repo, FAST)
    assert run["outcome"] == "patch_failed" and not run["resolved"]
    assert all(t["status"] == "missing" for t in run["tests"])


def test_hanging_patch_times_out(sample_tasks, sample_rollouts, sample_repo):
    traj = sample_rollouts["r-009"]
    run = grade(sample_tasks["textkit-2"], traj["patch"], sample_repo,
                GradeSettings(limits=SandboxLimits(timeout_s=2.0)))
    assert run["outcome"] == "timeout" and not run["resolved"]


def test_partial_fix_is_unresolved_with_split_lists(sample_tasks, sample_rollouts, sample_repo):
    run = grade(sample_tasks["textkit-2"], sample_rollouts["r-007"]["patch"], sample_repo, FAST)
    assert run["fail_to_pass"] == {"success": ["tests/test_durations.py::test_seconds_only"],
                                   "failure": ["tests/test_durations.py::test_seconds"]}


def test_results_are_cached_by_patch_and_tests(sample_tasks, sample_repo, monkeypatch):
    task = sample_tasks["textkit-3"]
    first = grade(task, task["patch"], sample_repo, FAST, traj_id="a")
    monkeypatch.setattr(grading, "_grade_uncached", lambda *a: pytest.fail("cache miss"))
    second = grade(task, task["patch"], sample_repo, FAST, traj_id="b")
    assert first["run_id"] == second["run_id"] and second["traj_id"] == "b"


def test_skipped_fail_to_pass_counts_as_failure():
    run = PytestRun(ExecStatus.OK, 0, [TestStatus("t.py::a", "skipped"), TestStatus("t.py::b", "passed")])
    rec = grading._record_from_run(run, ["t.py::a"], ["t.py::b"])
    assert rec["resolved"] is False and rec["fail_to_pass"]["failure"] == ["t.py::a"]


def test_infra_failure_is_retried_then_raised(sample_tasks, sample_repo, monkeypatch):
    calls = []

    def broken(*args, **kwargs):
        calls.append(1)
        return PytestRun(ExecStatus.FAILED, 1, infra_failure_reason="empty_test_report: empty JUnit report")

    monkeypatch.setattr(grading, "run_pytest", broken)
    with pytest.raises(InfraError, match="failed 3 times"):
        grade(sample_tasks["textkit-1"], "", sample_repo, GradeSettings(infra_retries=2))
    assert len(calls) == 3
