"""Repo-test traces: the calls a real pytest suite makes into its own project, traced in the sandbox."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

import schemas
from tracemill.cli import main
from tracemill.records import strip_origin
from tracemill.sandbox import bwrap_available
from tracemill.trace import cwm
from tracemill.trace.repo import RepoSettings, candidate_and_result, capture_calls
from tracemill.trace.runner import TraceSettings

pytestmark = pytest.mark.sandbox


@pytest.fixture(autouse=True)
def _needs_bwrap():
    if not bwrap_available():
        pytest.skip("bubblewrap not installed")


def make_repo(root: Path) -> Path:
    (root / "pkg").mkdir(parents=True)
    (root / "tests").mkdir()
    (root / "pkg" / "__init__.py").write_text("")
    (root / "pkg" / "core.py").write_text(textwrap.dedent('''\
        def helper(x):
            return x + 1


        def compute(values, scale=1):
            out = [helper(v) * scale for v in values]
            return sum(out)


        def spin(n):
            for _ in range(5000):
                n = (n * 3 + 1) % 97
            return n


        class Box:
            def __init__(self, v):
                self.v = v

            def grow(self, by):
                self.v += by
                return self.v
        '''))
    (root / "tests" / "test_core.py").write_text(textwrap.dedent('''\
        from pkg.core import Box, compute, helper, spin


        def test_compute():
            assert compute([1, 2], scale=2) == 10
            assert compute([0]) == 1


        def test_helper_many():
            for i in range(5):
                assert helper(i) == i + 1


        def test_box():
            assert Box(1).grow(2) == 3


        def test_spin_is_cut_but_the_test_goes_on():
            assert 0 <= spin(1) < 97
        '''))
    return root


def test_calls_from_tests_are_traced_with_nested_project_calls(tmp_path):
    repo = make_repo(tmp_path / "demo")
    name, raw, _summary = capture_calls(str(repo), TraceSettings(max_steps=200),
                                       RepoSettings(per_function=3, timeout_s=60))
    assert name == "demo"
    by_entry = {}
    for r in raw:
        by_entry.setdefault(r["qualname"], []).append(r)
    # helper is an entry when a test calls it directly (capped at 3), and a nested call inside compute.
    assert len(by_entry["helper"]) == 3
    compute = by_entry["compute"][0]
    assert compute["inputs"] == {"args": ["[1, 2]"], "kwargs": {"scale": "2"}} or \
        compute["inputs"] == {"args": ["[1, 2]", "2"], "kwargs": {}}
    assert {e["func"] for e in compute["events"]} >= {"compute", "compute.<locals>.<listcomp>", "helper"}
    assert compute["status"] == "complete" and compute["return_value"] == "10"
    assert [r["qualname"] for r in raw if r["qualname"].startswith("Box")] == ["Box.__init__", "Box.grow"]
    spin = by_entry["spin"][0]
    assert (spin["status"], spin["truncation_reason"], len(spin["events"])) == ("truncated", "step_limit", 200)
    assert all(r["path"] == "pkg/core.py" for r in raw)  # test files are never entries


def test_captured_calls_become_valid_trace_records(tmp_path):
    from tracemill.trace.record import trace_record

    repo = make_repo(tmp_path / "demo")
    name, raw, _ = capture_calls(str(repo), TraceSettings(max_steps=200), RepoSettings(timeout_s=60))
    for r in raw:
        cand, result = candidate_and_result(name, r)
        rec = trace_record(cand, result, {"max_steps": 200})
        assert schemas.errors("execution_trace", strip_origin(rec)) == [], rec["id"]
        assert rec["source_kind"] == "repo_test" and rec["id"].startswith("demo:pkg/core.py:")
        _, frames = cwm.parse(rec["cwm_text"])
        assert len(frames) == rec["num_events"]


@pytest.mark.slow
def test_cli_repo_mode_on_the_bundled_sample(tmp_path):
    out, again = tmp_path / "out", tmp_path / "again"
    for d in (out, again):
        assert main(["traces", "--repo", "@sample", "--out", str(d), "--quiet"]) == 0
    for name in ("traces.jsonl", "sft.jsonl", "rejections.jsonl", "manifest.json"):
        assert (out / name).read_bytes() == (again / name).read_bytes(), name
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["counts"]["reconciled"] is True
    traces = [json.loads(line) for line in (out / "traces.jsonl").read_text().splitlines()]
    entries = {t["entry"] for t in traces}
    assert {"to_roman", "from_roman", "parse_duration", "slugify"} <= entries
    raised = [t for t in traces if t["status"] == "error"]
    assert raised and all(t["exception"]["type"] == "ValueError" for t in raised)
    (run,) = manifest["metrics"]["repo_runs"]
    assert (run["repo"], run["status"], run["pytest_summary"]) == ("@sample", "ok", "22 passed")
    assert manifest["inputs"][0]["records"] == run["traces"] == manifest["counts"]["total"]["input"]


def test_a_repo_whose_sandbox_cannot_start_is_dead_lettered(tmp_path, monkeypatch):
    import apache_beam as beam
    from apache_beam.testing.test_pipeline import TestPipeline as BeamPipeline
    from apache_beam.testing.util import assert_that, equal_to

    from tracemill.runner import pipeline_options
    from tracemill.sandbox import ExecStatus, SandboxResult
    from tracemill.trace import repo as repo_module
    from tracemill.trace.transforms import CaptureRepoCalls

    monkeypatch.setattr(repo_module, "run_sandboxed", lambda *a, **k: SandboxResult(
        ExecStatus.INFRA_ERROR, None, "", "", 0.0, "bwrap: setting up uid map: Permission denied"))
    repo = make_repo(tmp_path / "demo")
    with BeamPipeline(options=pipeline_options(["--direct_running_mode=in_memory"])) as p:
        out = p | CaptureRepoCalls([str(repo)], TraceSettings(), RepoSettings(), infra_retries=1)
        assert_that(out["kept"], equal_to([]), label="kept")
        assert_that(out["dead"] | beam.Map(lambda r: (r["record_id"], r["stage"], r["reason"])),
                    equal_to([(str(repo), "capture_repo", "sandbox_infra_error")]), label="dead")
