import pytest

from tracemill.errors import InfraError
from tracemill.verify.junit import parse_junit

XML = """<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest" tests="4">
<testcase classname="tests.test_a" name="test_ok" file="tests/test_a.py" line="1" time="0.001"/>
<testcase classname="tests.test_a" name="test_bad" file="tests/test_a.py" line="2"><failure message="assert 0">trace</failure></testcase>
<testcase classname="tests.test_a.TestK" name="test_p[1-x]" file="tests/test_a.py" line="5"><skipped type="pytest.skip" message="later"/></testcase>
<testcase classname="tests.test_a" name="test_err" file="tests/test_a.py" line="9"><error message="fixture failed"/></testcase>
</testsuite></testsuites>"""


def test_statuses_and_node_ids():
    got = {t.nodeid: t.status for t in parse_junit(XML)}
    assert got == {
        "tests/test_a.py::test_ok": "passed",
        "tests/test_a.py::test_bad": "failed",
        "tests/test_a.py::TestK::test_p[1-x]": "skipped",
        "tests/test_a.py::test_err": "error",
    }


def test_failure_message_is_kept():
    bad = next(t for t in parse_junit(XML) if t.status == "failed")
    assert bad.message == "assert 0"


@pytest.mark.parametrize("text,reason", [("", "empty_test_report"), ("<testsuites><oops", "unparseable_test_report")])
def test_empty_or_broken_reports_are_infra_errors(text, reason):
    with pytest.raises(InfraError) as exc:
        parse_junit(text)
    assert exc.value.reason == reason
