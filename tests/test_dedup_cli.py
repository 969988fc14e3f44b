"""`tracemill dedup` and `tracemill decontam` end to end on small JSONL files."""

from __future__ import annotations

import json

from tracemill.cli import main
from tracemill.dedup.corpus import planted_corpus

BEAM = ["--runner=DirectRunner", "--direct_num_workers=1"]


def _lines(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _write_input(path):
    docs = list(planted_corpus(150, seed=5))
    rows = [json.dumps(d) for d in docs]
    rows += ["{not json", json.dumps({"text": "no id"}), json.dumps({"id": docs[0]["id"], "text": "same id"}),
             json.dumps({"id": "exact-copy", "text": docs[3]["text"]})]
    path.write_text("\n".join(rows) + "\n")
    return docs, len(rows)


def test_dedup_covers_every_input_line_once(tmp_path):
    src = tmp_path / "in.jsonl"
    docs, n_lines = _write_input(src)
    out = tmp_path / "out"
    assert main(["dedup", "--input", str(src), "--field", "text", "--out", str(out), *BEAM]) == 0
    kept, rejections = _lines(out / "kept.jsonl"), _lines(out / "rejections.jsonl")
    assert len(kept) + len(rejections) == n_lines
    reasons = {r["reason"] for r in rejections}
    assert {"malformed_json", "missing_id", "duplicate_id", "exact_duplicate", "near_duplicate"} <= reasons
    kept_ids = {r["id"] for r in kept}
    for row in rejections:
        if row["reason"] == "near_duplicate":  # the keeper of a near-dup cluster is always kept
            assert row["duplicate_of"] in kept_ids and 0.8 <= row["similarity"] < 1.0
    assert {"id": docs[0]["id"], "text": docs[0]["text"], "planted_from": None} in kept  # records as given
    exact = next(r for r in rejections if r["record_id"] == "exact-copy")
    assert (exact["reason"], exact["duplicate_of"], exact["similarity"]) == ("exact_duplicate", docs[3]["id"], 1.0)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["reconciled"] and summary["input_lines"] == n_lines


def test_dedup_output_is_byte_identical_across_runs(tmp_path):
    src = tmp_path / "in.jsonl"
    _write_input(src)
    outs = []
    for name in ("a", "b"):
        out = tmp_path / name
        assert main(["dedup", "--input", str(src), "--field", "text", "--out", str(out), "--threshold", "0.7",
                     *BEAM]) == 0
        outs.append(((out / "kept.jsonl").read_bytes(), (out / "rejections.jsonl").read_bytes()))
    assert outs[0] == outs[1]


def test_dedup_bad_threshold_is_one_line_error(tmp_path, capsys):
    assert main(["dedup", "--input", "x.jsonl", "--field", "text", "--out", str(tmp_path / "o"),
                 "--threshold", "1.5"]) == 2
    assert "threshold" in capsys.readouterr().err


def test_decontam_drops_records_matching_a_swe_bench_instance(tmp_path):
    patch = "".join(f"+    value_{i} = compute_{i}(row, key_{i})\n" for i in range(30))
    bench = tmp_path / "swe.json"
    bench.write_text(json.dumps([{"repo": "o/r", "instance_id": "o__r-1", "patch": patch,
                                  "problem_statement": "Crash when the row is empty.",
                                  "FAIL_TO_PASS": "[\"t::a\"]", "PASS_TO_PASS": "[]"}]))
    src = tmp_path / "in.jsonl"
    src.write_text("\n".join(json.dumps(r) for r in [
        {"id": "a", "patch": "diff --git a/x b/x\n" + patch},
        {"id": "b", "patch": "+    return 1\n"},
        {"id": "c", "instance_id": "o__r-1", "patch": ""},
    ]) + "\n")
    out = tmp_path / "out"
    assert main(["decontam", "--input", str(src), "--field", "patch", "--swe-bench", str(bench),
                 "--out", str(out), *BEAM]) == 0
    assert [r["id"] for r in _lines(out / "kept.jsonl")] == ["b"]
    rows = {r["record_id"]: (r["reason"], r["duplicate_of"]) for r in _lines(out / "rejections.jsonl")}
    assert rows == {"a": ("benchmark_near_duplicate", "swe-bench:o__r-1"),
                    "c": ("benchmark_deny_list", "swe-bench:o__r-1")}


def test_decontam_without_evaluation_sets_is_a_config_error(tmp_path, capsys):
    src = tmp_path / "in.jsonl"
    src.write_text("{\"id\": \"a\"}\n")
    assert main(["decontam", "--input", str(src), "--field", "patch", "--out", str(tmp_path / "o")]) == 2
    assert "evaluation" in capsys.readouterr().err
