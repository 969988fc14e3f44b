"""Audits whose signal the bundled sample does not exercise (flaky tests, contamination, signal histograms,
budgets, staleness gaps), and the `tracemill audit` command, on a small hand-written output folder."""

from __future__ import annotations

import json
import shutil

import pytest

from tracemill import audit
from tracemill.cli import main
from tracemill.config import load_config, to_dict
from tracemill.sinks import write_shard

SFT = [("s-1", "a", 100), ("s-2", "a", 200), ("s-3", "a", 300), ("s-4", "b", 50)]
SIGNALS = [150.0, 250.0, 900.0, 1000.0]


def msg(text):
    return [{"role": "user", "content": text}]


def build(out, input_records=None):
    tasks = [
        {"instance_id": "t-1", "repo": "acme/lib", "base_commit": "0" * 40, "patch": "", "test_patch": "",
         "problem_statement": "p", "FAIL_TO_PASS": [], "PASS_TO_PASS": [], "created_at": "2026", "source": "pr",
         "license": None, "flags": ["flaky_suite"],
         "provenance": {"flaky_tests": ["tests/test_a.py::test_y", "tests/test_a.py::test_x"]}},
        {"instance_id": "t-2", "repo": "acme/lib", "base_commit": "1" * 40, "patch": "", "test_patch": "",
         "problem_statement": "p", "FAIL_TO_PASS": [], "PASS_TO_PASS": [], "created_at": "2026", "source": "pr",
         "license": None, "flags": [], "provenance": {}},
    ]
    trajs = [{"traj_id": f"r-{i}", "instance_id": "t-1", "agent": "x", "model": "m", "messages": msg("hi"),
              "tools": [], "patch": None, "exit_status": None, "policy_version_begin": None,
              "policy_version_end": None, "resolved": i == 1} for i in range(1, 4)]
    sft = [{"id": i, "source": s, "messages": msg("x"), "tools": [], "num_tokens": n, "traj_id": None}
           for i, s, n in SFT]
    rl = [{"id": f"rl-{i}", "traj_id": f"r-{i}", "instance_id": "t-1", "source": "a", "prompt": msg("p"),
           "messages": msg("m"), "tools": [], "reward": 0.0, "reason": "fail", "resolved": False,
           "verifier": {"repo": "acme/lib", "base_commit": "0" * 40, "test_command": "pytest",
                        "FAIL_TO_PASS": [], "PASS_TO_PASS": []},
           "num_tokens": 10, "policy_version_begin": b, "policy_version_end": e}
          for i, (b, e) in enumerate([("step-5", "step-7"), ("v3", "v3"), (None, None)], start=1)]

    def rej(rid, stage, disposition, reason, **kw):
        return {"record_id": rid, "record_kind": "trajectory", "source": "in.jsonl", "line": None, "stage": stage,
                "disposition": disposition, "reason": reason, "signal": None, "limit": None,
                "duplicate_of": None, "similarity": None, "error": None, "detail": None, **kw}

    rejections = [rej(f"f-{i}", "filter_tokens", "filtered", "too_many_tokens", signal=s, limit=128.0, line=4 + i)
                  for i, s in enumerate(SIGNALS)]
    rejections += [
        rej("c-1", "decontaminate", "filtered", "benchmark_ngram_overlap", signal=0.7, limit=0.5,
            duplicate_of="humaneval:12", line=8),
        rej("c-2", "decontam_rl", "filtered", "contaminated_eval", duplicate_of="swebench:django-1", line=9),
        rej("d-1", "dedup_near", "deduplicated", "near_duplicate", duplicate_of="r-1", similarity=0.91, line=10),
        rej("d-2", "dedup_near", "deduplicated", "near_duplicate", duplicate_of="r-1", similarity=0.85, line=11),
        rej("d-3", "dedup_exact", "deduplicated", "exact_duplicate", duplicate_of="r-2", similarity=1.0, line=12),
        {**rej("s-5", "mix_sft", "filtered", "over_token_budget", signal=400.0, limit=600.0),
         "record_kind": "sft_example", "source": "a"},
    ]
    ledger = [{"record_kind": "trajectory", "record_id": f"r-{i}", "source": "in.jsonl", "line": i,
               "disposition": "emitted", "stage": "emit", "reason": None} for i in range(1, 4)]
    ledger += [{"record_kind": r["record_kind"], "record_id": r["record_id"], "source": r["source"],
                "line": r["line"], "disposition": r["disposition"], "stage": r["stage"], "reason": r["reason"]}
               for r in rejections if r["line"] is not None]
    outputs = {"tasks": ("task", tasks), "trajectories": ("trajectory", trajs), "test_runs": ("test_run", []),
               "sft": ("sft_example", sft), "rl": ("rl_example", rl), "rejections": ("rejection", rejections),
               "dispositions": ("disposition", ledger)}
    for name, (schema, records) in outputs.items():
        write_shard(str(out), name, schema, 0, 1, records, sort_key=lambda r: json.dumps(r, sort_keys=True))
    cfg = load_config(None, ["mix.sft.weights={a: 3, b: 1}", "mix.sft.token_budget=800"])
    manifest = {"pipeline": "synthetic", "config": to_dict(cfg), "config_hash": "x", "seed": 0,
                "inputs": [{"path": "in.jsonl", "kind": "trajectory", "sha256": "0" * 64,
                            "records": len(ledger) if input_records is None else input_records}]}
    (out / "manifest.json").write_text(json.dumps(manifest))
    return {"tasks": tasks, "rl": rl, "rejections": rejections, "ledger": ledger}


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    out = tmp_path_factory.mktemp("synthetic") / "out"
    out.mkdir()
    data = build(out)
    con = audit.connect(str(out))
    yield out, con, data
    con.close()


def records(con, name, **params):
    result = audit.run(con, name, params)
    assert result.skipped is None, result.skipped
    return result.records()


def test_flaky_tests_come_from_provenance_and_flags(synthetic):
    _, con, _ = synthetic
    got = [(r["instance_id"], r["test"], r["evidence"]) for r in records(con, "flaky_tests")]
    assert got == [("t-1", None, "flags:flaky_suite"),
                   ("t-1", "tests/test_a.py::test_x", "provenance.flaky_tests"),
                   ("t-1", "tests/test_a.py::test_y", "provenance.flaky_tests")]


def test_contamination_hits_name_the_benchmark_item(synthetic):
    _, con, _ = synthetic
    got = {r["record_id"]: (r["reason"], r["benchmark_item"]) for r in records(con, "contamination")}
    assert got == {"c-1": ("benchmark_ngram_overlap", "humaneval:12"),
                   "c-2": ("contaminated_eval", "swebench:django-1")}


def test_signal_histogram_bins(synthetic):
    _, con, _ = synthetic
    lo, hi, bins = min(SIGNALS), max(SIGNALS), 4
    expected = {}
    for s in SIGNALS:
        b = min(int((s - lo) / (hi - lo) * bins), bins - 1)
        expected[b] = expected.get(b, 0) + 1
    got = [r for r in records(con, "signal_histogram", bins=bins) if r["reason"] == "too_many_tokens"]
    assert {r["bin"]: r["records"] for r in got} == expected
    for r in got:
        assert r["bin_lo"] == pytest.approx(lo + r["bin"] * (hi - lo) / bins)
    assert sum(r["records"] for r in got) == len(SIGNALS)


@pytest.mark.parametrize("limit", [200, 950])
def test_limit_what_if_on_stored_signals(synthetic, limit):
    _, con, _ = synthetic
    got = {r["dataset"]: r for r in records(con, "limit_what_if", limit=limit)}
    row = got["rejections:filter_tokens/too_many_tokens"]
    assert row["above_limit"] == sum(s > limit for s in SIGNALS)
    assert row["within_limit"] == sum(s <= limit for s in SIGNALS)
    assert got["sft"]["above_limit"] == sum(n > limit for _, _, n in SFT)


def test_mixture_against_weights_and_budget(synthetic):
    _, con, _ = synthetic
    got = {r["source"]: r for r in records(con, "mixture_composition") if r["split"] == "sft"}
    kept_a = sum(n for _, s, n in SFT if s == "a")
    assert got["a"]["weight_share"] == 0.75 and got["b"]["weight_share"] == 0.25
    assert got["a"]["target_tokens"] == 600 and got["b"]["target_tokens"] == 200
    assert (got["a"]["tokens"], got["a"]["dropped_examples"], got["a"]["dropped_tokens"]) == (kept_a, 1, 400)
    assert got["a"]["candidate_tokens"] == kept_a + 400
    assert got["b"]["shortfall_tokens"] == 150 and got["a"]["shortfall_tokens"] == 0
    assert got["a"]["token_share"] == pytest.approx(kept_a / (kept_a + 50), abs=1e-6)


def test_staleness_parses_trailing_integers(synthetic):
    _, con, _ = synthetic
    got = {(r["measure"], r["staleness"]): r["examples"] for r in records(con, "policy_staleness")}
    assert got == {("within_rollout", 2): 1, ("within_rollout", 0): 1, ("within_rollout", None): 1,
                   ("behind_latest", 0): 1, ("behind_latest", 4): 1, ("behind_latest", None): 1}


def test_duplicate_cluster_example_pair_is_the_least_similar(synthetic):
    _, con, _ = synthetic
    got = {r["keeper"]: r for r in records(con, "duplicate_clusters")}
    assert (got["r-1"]["size"], got["r-1"]["example_b"], got["r-1"]["example_similarity"]) == (3, "d-2", 0.85)
    assert got["r-2"]["size"] == 2


# --------------------------------------------------------------------------------------------------
# The command


def test_list_names_every_audit(synthetic, capsys):
    out, _, _ = synthetic
    assert main(["audit", str(out), "--list"]) == 0
    text = capsys.readouterr().out
    for name in audit.AUDITS:
        assert name in text


def test_reconciliation_json_has_ok(synthetic, capsys):
    out, _, data = synthetic
    assert main(["audit", str(out), "--query", "reconciliation", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows == [{"source": "in.jsonl", "record_kind": "trajectory", "input": len(data["ledger"]),
                     "emitted": 3, "filtered": 6, "deduplicated": 3, "dead_lettered": 0,
                     "ledger_rows": len(data["ledger"]), "ok": True}]


def test_unreconciled_run_exits_1(tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    build(out, input_records=99)
    assert main(["audit", str(out), "--query", "reconciliation", "--format", "json"]) == 1
    captured = capsys.readouterr()
    assert json.loads(captured.out)[0]["ok"] is False and "in.jsonl" in captured.err


def test_sql_and_csv(synthetic, capsys):
    out, _, data = synthetic
    assert main(["audit", str(out), "--sql", "select reason, count(*) as n from rejections group by 1 order by 1",
                 "--format", "csv"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "reason,n"
    expected = {}
    for r in data["rejections"]:
        expected[r["reason"]] = expected.get(r["reason"], 0) + 1
    assert lines[1:] == [f"{k},{v}" for k, v in sorted(expected.items())]


def test_all_audits_as_table_and_json(synthetic, capsys):
    out, _, _ = synthetic
    assert main(["audit", str(out)]) == 0
    text = capsys.readouterr().out
    assert all(f"== {name}:" in text for name in audit.AUDITS)
    assert main(["audit", str(out), "--format", "json", "--param", "k=1"]) == 0
    body = json.loads(capsys.readouterr().out)
    assert set(body) == set(audit.AUDITS) and body["acceptance"]["params"] == {"k": 1}


def test_bad_input_is_one_line_exit_2(synthetic, capsys):
    out, _, _ = synthetic
    assert main(["audit", str(out), "--query", "nope"]) == 2
    assert main(["audit", str(out), "--param", "limit=abc"]) == 2
    assert main(["audit", str(out), "--sql", "select * from no_such_view"]) == 2
    assert main(["audit", str(out / "missing")]) == 2
    err = capsys.readouterr().err
    assert err.count("tracemill: error:") == 4 and "Traceback" not in err


def test_missing_or_moved_database_is_rebuilt(synthetic, tmp_path):
    out, _, _ = synthetic
    moved = tmp_path / "moved"
    shutil.copytree(out, moved)
    # the copy's views still point at the original folder: stale
    old = __import__("duckdb").connect(str(moved / "audit.duckdb"), read_only=True)
    assert str(out) in old.execute("select sql from duckdb_views() where view_name = 'sft'").fetchall()[0][0]
    old.close()
    con = audit.connect(str(moved))
    assert str(moved) in con.execute("select sql from duckdb_views() where view_name = 'sft'").fetchall()[0][0]
    con.close()
    (moved / "audit.duckdb").unlink()
    con = audit.connect(str(moved))
    assert con.execute("select count(*) from sft").fetchall() == [(len(SFT),)]
    con.close()


def test_database_needs_no_tracemill(synthetic):
    import subprocess
    import sys

    out, _, _ = synthetic
    code = ("import duckdb, sys; c = duckdb.connect(sys.argv[1], read_only=True); "
            "print(c.execute('select count(*) from sft').fetchall()[0][0]); "
            "assert 'tracemill' not in sys.modules")
    res = subprocess.run([sys.executable, "-c", code, str(out / "audit.duckdb")], check=False, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == str(len(SFT))


def test_write_card_for_an_existing_run(tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    build(out)
    assert main(["audit", str(out), "--query", "flaky_tests", "--write-card"]) == 0
    text = (out / "card.html").read_text()
    assert 'data-audit="flaky_tests"' in text and "tests/test_a.py::test_x" in text
    assert 'data-audit="contamination"' in text and "humaneval:12" in text
    assert (out / "card.md").exists() and "card.html" in capsys.readouterr().err
