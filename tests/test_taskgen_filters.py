"""The task filter: collection-error policy and FAIL_TO_PASS bounds, on literal records."""

import pytest

from filters.task import TaskFilter, TaskFilterConfig
from tracemill.errors import ConfigError
from tracemill.records import Rejection

FLAGGED = {"instance_id": "x-1", "FAIL_TO_PASS": ["t.py::a", "t.py::b"], "flags": ["collection_error"],
           "provenance": {"collection_errors": [{"module": "t.py", "tests_affected": 2}]}}


def test_collection_error_kept_flagged_by_default():
    assert TaskFilter()(FLAGGED) is FLAGGED


def test_collection_error_rejected_with_signal_when_configured():
    out = TaskFilter(TaskFilterConfig(collection_error="reject"))(FLAGGED)
    assert isinstance(out, Rejection) and out.reason == "collection_error" and out.signal == 2.0
    assert "t.py" in out.detail


def test_fail_to_pass_bounds():
    out = TaskFilter(TaskFilterConfig(max_fail_to_pass=1))(FLAGGED)
    assert out.reason == "too_many_fail_to_pass" and out.signal == 2 and out.limit == 1
    assert TaskFilter()({**FLAGGED, "FAIL_TO_PASS": []}).reason == "too_few_fail_to_pass"


def test_unknown_policy_is_a_config_error():
    with pytest.raises(ConfigError):
        TaskFilterConfig(collection_error="maybe")
