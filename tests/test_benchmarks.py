"""The benchmark harness: modules are discovered, run side by side with baselines, and reported."""

from __future__ import annotations

import importlib
import json

import pytest

from benchmarks import run as bench
from benchmarks.common import SIZES, Measurement, row


def test_every_bench_module_is_discovered_and_sized():
    names = bench.discover()
    assert {"bench_minhash", "bench_lsh", "bench_beam_stages", "bench_schema", "bench_scaling"} <= set(names)
    for name in names:
        module = importlib.import_module(f"benchmarks.{name}")
        assert callable(module.run) and module.__doc__, name
    for name in ("bench_minhash", "bench_lsh", "bench_beam_stages", "bench_schema", "bench_scaling"):
        assert set(SIZES) <= set(importlib.import_module(f"benchmarks.{name}").SIZES), name


def test_rows_compute_ratios_from_medians():
    base = Measurement("loop", 100, [1.0, 3.0, 2.0], [1.0, 3.0, 2.0])
    cand = Measurement("beam", 100, [4.0, 4.0, 5.0], [4.0, 5.0, 4.0])
    cost = row("map", "records/s", base, cand, "cost", 2.5, "<= 2.5x")
    assert (cost["ratio"], cost["met"]) == (2.0, True)
    speed = row("sign", "docs/s", base, Measurement("fast", 400, [1.0], [1.0]), "rate", 300, ">= 300/s")
    assert speed["ratio"] == 8.0 and speed["met"] is True and speed["candidate"]["per_cpu_s"] == 400.0


def test_smoke_run_writes_json_and_markdown_reports(tmp_path):
    code = bench.main(["--size", "smoke", "--only", "bench_lsh", "--only", "bench_minhash", "--out", str(tmp_path)])
    assert code == 0
    report = json.loads((tmp_path / "report.json").read_text())
    assert set(report["benchmarks"]) == {"bench_lsh", "bench_minhash"}
    rows = [r for b in report["benchmarks"].values() for r in b["rows"]]
    assert rows and all(r["baseline"]["median_cpu_s"] > 0 and r["candidate"]["median_cpu_s"] > 0 for r in rows)
    md = (tmp_path / "report.md").read_text()
    assert "## MinHash signatures" in md and "| case | n | baseline |" in md


@pytest.mark.slow
def test_whole_suite_smoke(tmp_path):
    mine = ["bench_minhash", "bench_lsh", "bench_beam_stages", "bench_schema", "bench_scaling"]
    assert bench.main(["--size", "smoke", *(f"--only={m}" for m in mine), "--out", str(tmp_path)]) == 0
    report = json.loads((tmp_path / "report.json").read_text())
    assert not [name for name, b in report["benchmarks"].items() if "error" in b]
    assert report["benchmarks"]["bench_scaling"]["rows"]
