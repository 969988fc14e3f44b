"""Per-test statuses from pytest's JUnit XML (xunit1 family, which records each test's file)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass

from tracemill.errors import InfraError


@dataclass(frozen=True)
class TestStatus:
    __test__ = False  # not a pytest test class

    nodeid: str
    status: str  # passed | failed | error | skipped
    message: str | None = None


def _nodeid(case: ET.Element) -> str:
    name = case.get("name", "")
    classname = case.get("classname", "")
    file = case.get("file")
    if not file:
        # Collection errors and xunit2 reports carry no file: fall back to the dotted classname.
        return f"{classname.replace('.', '/')}.py::{name}" if classname else name
    module = file[:-3].replace("/", ".") if file.endswith(".py") else file
    classes = classname[len(module) + 1 :] if classname.startswith(module + ".") else ""
    return "::".join([file, *[c for c in classes.split(".") if c], name])


def parse_junit(xml_text: str, max_message: int = 2000) -> list[TestStatus]:
    """Statuses in report order; raises InfraError when the report is empty or unparseable."""
    if not xml_text.strip():
        raise InfraError("empty JUnit report", reason="empty_test_report")
    try:
        root = ET.fromstring(xml_text)
    except ET.ParseError as exc:
        raise InfraError(f"unparseable JUnit report: {exc}", reason="unparseable_test_report") from exc
    out = []
    for case in root.iter("testcase"):
        status, message = "passed", None
        for child in case:
            if child.tag in ("failure", "error", "skipped"):
                status = {"failure": "failed", "error": "error", "skipped": "skipped"}[child.tag]
                message = (child.get("message") or child.text or "")[:max_message] or None
                if status != "skipped":
                    break
        out.append(TestStatus(_nodeid(case), status, message))
    return out
