"""Each audit on the fixed sample run returns the numbers computed here, independently, from the JSONL
outputs with plain Python (not by the same SQL)."""

from __future__ import annotations

import collections
import math
import re

import pytest

from tests.fixed_run import fixed_run, read_output  # noqa: F401 - fixture
from tracemill import audit, sample

pytestmark = pytest.mark.sandbox


@pytest.fixture(scope="module")
def out(fixed_run):  # noqa: F811
    return fixed_run


@pytest.fixture(scope="module")
def con(out):
    c = audit.connect(str(out))
    yield c
    c.close()


def rows(con, name, **params):
    result = audit.run(con, name, params)
    assert result.skipped is None, result.skipped
    return result.records()


def quantile(values, q):
    """Linear interpolation between closest ranks (numpy's default), written out."""
    xs = sorted(values)
    pos = q * (len(xs) - 1)
    lo, hi = math.floor(pos), math.ceil(pos)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def pass_at_k(n, c, k):
    if n < k:
        return None
    return 1.0 - math.comb(n - c, k) / math.comb(n, k)


def test_no_audit_is_skipped_on_a_full_run(con):
    for result in audit.run_all(con):
        assert result.skipped is None, (result.name, result.skipped)


def test_reconciliation_per_source(con, out):
    ledger = read_output(out, "dispositions")
    expected = {}
    for name, kind in (("tasks.jsonl", "task"), ("rollouts.jsonl", "trajectory")):
        lines = [ln for ln in sample.data_path(name).read_text().splitlines() if ln.strip()]
        mine = [r for r in ledger if r["source"] == f"@sample/{name}"]
        by = collections.Counter(r["disposition"] for r in mine)
        expected[f"@sample/{name}"] = {
            "source": f"@sample/{name}", "record_kind": kind, "input": len(lines),
            "emitted": by["emitted"], "filtered": by["filtered"], "deduplicated": by["deduplicated"],
            "dead_lettered": by["dead_lettered"], "ledger_rows": len(mine),
            "ok": len(mine) == len(lines) == len({r["line"] for r in mine}),
        }
    got = {r["source"]: r for r in rows(con, "reconciliation")}
    assert got == expected
    assert all(r["ok"] for r in got.values())
    assert expected["@sample/rollouts.jsonl"]["input"] == 18


def test_counts_per_source_stage_disposition(con, out):
    expected = collections.Counter((r["source"], r["record_kind"], r["stage"], r["disposition"], r["reason"])
                                   for r in read_output(out, "dispositions"))
    got = {(r["source"], r["record_kind"], r["stage"], r["disposition"], r["reason"]): r["records"]
           for r in rows(con, "disposition_counts")}
    assert got == dict(expected)


@pytest.mark.parametrize("k", [1, 2, 3])
def test_acceptance_and_pass_at_k(con, out, k):
    trajs = read_output(out, "trajectories")
    repo_of = {t["instance_id"]: t["repo"] for t in read_output(out, "tasks")}
    source_of = {r["record_id"]: r["source"] for r in read_output(out, "dispositions")
                 if r["record_kind"] == "trajectory" and r["disposition"] == "emitted"}
    in_sft = {e["traj_id"] for e in read_output(out, "sft")}
    keys = {"task": lambda t: t["instance_id"], "repo": lambda t: repo_of[t["instance_id"]],
            "model": lambda t: t["model"], "source": lambda t: source_of[t["traj_id"]]}
    got = {(r["level"], r["key"]): r for r in rows(con, "acceptance", k=k)}
    assert {level for level, _ in got} == set(keys)
    for level, key_fn in keys.items():
        groups = collections.defaultdict(list)
        for t in trajs:
            groups[key_fn(t)].append(t)
        for key, members in groups.items():
            row = got[(level, key)]
            per_task = collections.defaultdict(list)
            for t in members:
                per_task[t["instance_id"]].append(bool(t["resolved"]))
            resolved = sum(bool(t["resolved"]) for t in members)
            assert row["graded"] == len(members) and row["resolved"] == resolved
            assert row["tasks"] == len(per_task)
            assert row["acceptance_rate"] == pytest.approx(resolved / len(members), abs=1e-6)
            assert row["in_sft"] == sum(t["traj_id"] in in_sft for t in members)
            p1 = [sum(v) / len(v) for v in per_task.values()]
            assert row["pass_at_1"] == pytest.approx(sum(p1) / len(p1), abs=1e-6)
            pk = [p for v in per_task.values() if (p := pass_at_k(len(v), sum(v), k)) is not None]
            assert row["pass_at_k"] == (pytest.approx(sum(pk) / len(pk), abs=1e-6) if pk else None)
    # the manifest's own pass@1 per task agrees
    manifest = audit.run_sql(con, "SELECT unnest(metrics.pass_at_k, recursive := true) FROM manifest").records()
    for m in manifest:
        assert got[("task", m["instance_id"])]["pass_at_1"] == pytest.approx(m["pass@1"], abs=1e-6)


def test_rejection_reasons(con, out):
    rej = read_output(out, "rejections")
    expected = collections.Counter((r["record_kind"], r["stage"], r["disposition"], r["reason"]) for r in rej)
    got = {(r["record_kind"], r["stage"], r["disposition"], r["reason"]): r for r in rows(con, "rejection_reasons")}
    assert {k: v["records"] for k, v in got.items()} == dict(expected)
    for key, row in got.items():
        signals = [r["signal"] for r in rej if (r["record_kind"], r["stage"], r["disposition"], r["reason"]) == key
                   and r["signal"] is not None]
        assert row["with_signal"] == len(signals)
        assert row["signal_max"] == (max(signals) if signals else None)


@pytest.mark.parametrize("limit", [300, 500, 650])
def test_what_would_a_limit_have_dropped(con, out, limit):
    got = {(r["dataset"], r["measure"]): r for r in rows(con, "limit_what_if", limit=limit)}
    for split in ("sft", "rl"):
        tokens = [e["num_tokens"] for e in read_output(out, split)]
        row = got[(split, "num_tokens")]
        assert row["records"] == len(tokens)
        assert row["above_limit"] == sum(t > limit for t in tokens)
        assert row["within_limit"] == sum(t <= limit for t in tokens)
        assert row["value_above"] == (sum(t for t in tokens if t > limit) or None)
    lengths = [len(t["messages"]) for t in read_output(out, "trajectories")]
    assert got[("trajectories", "messages")]["above_limit"] == sum(n > limit for n in lengths)


def test_token_length_percentiles(con, out):
    got = {(r["split"], r["source"]): r for r in rows(con, "token_lengths")}
    for split in ("sft", "rl"):
        examples = read_output(out, split)
        by_source = collections.defaultdict(list)
        for e in examples:
            by_source[e["source"]].append(e["num_tokens"])
        by_source["*"] = [e["num_tokens"] for e in examples]
        for source, tokens in by_source.items():
            row = got[(split, source)]
            assert row["examples"] == len(tokens) and row["tokens"] == sum(tokens)
            assert (row["min"], row["max"]) == (min(tokens), max(tokens))
            for q, col in ((0.5, "p50"), (0.9, "p90"), (0.99, "p99")):
                assert row[col] == pytest.approx(quantile(tokens, q))
    assert len(got) == sum(1 + len({e["source"] for e in read_output(out, s)}) for s in ("sft", "rl"))


def test_duplicate_clusters(con, out):
    dups = [r for r in read_output(out, "rejections") if r["disposition"] == "deduplicated"]
    clusters = collections.defaultdict(list)
    for r in dups:
        clusters[(r["record_kind"], r["duplicate_of"])].append(r)
    got = {(r["record_kind"], r["keeper"]): r for r in rows(con, "duplicate_clusters")}
    assert set(got) == set(clusters)
    for key, members in clusters.items():
        row = got[key]
        assert row["size"] == len(members) + 1
        assert row["duplicates"] == sorted(m["record_id"] for m in members)
        widest = min(members, key=lambda m: (m["similarity"] if m["similarity"] is not None else 2, m["record_id"]))
        assert (row["example_a"], row["example_b"]) == (key[1], widest["record_id"])
        assert row["example_similarity"] == widest["similarity"]
    # on the sample: r-002 (exact) and r-003 (near) both collapse onto r-001
    assert got[("trajectory", "r-001")]["size"] == 3


def test_flaky_and_contamination_are_empty_on_the_sample(con, out):
    tasks = read_output(out, "tasks")
    assert not any((t.get("provenance") or {}).get("flaky_tests") for t in tasks)
    assert rows(con, "flaky_tests") == []
    assert not any(r["reason"].startswith(("contaminat", "benchmark_")) for r in read_output(out, "rejections"))
    assert rows(con, "contamination") == []


def test_mixture_composition_against_config(con, out):
    import json

    cfg = json.loads((out / "manifest.json").read_text())["config"]["mix"]
    got = {(r["split"], r["source"]): r for r in rows(con, "mixture_composition")}
    for split in ("sft", "rl"):
        examples = read_output(out, split)
        total = sum(e["num_tokens"] for e in examples)
        weights = cfg[split]["weights"]
        for source, weight in weights.items():
            row = got[(split, source)]
            mine = [e for e in examples if e["source"] == source]
            assert row["weight"] == weight
            assert row["weight_share"] == pytest.approx(weight / sum(weights.values()))
            assert row["token_budget"] == cfg[split]["token_budget"]
            assert row["examples"] == len(mine) and row["tokens"] == sum(e["num_tokens"] for e in mine)
            assert row["token_share"] == pytest.approx(sum(e["num_tokens"] for e in mine) / total, abs=1e-6)
            assert row["dropped_examples"] == 0  # no budget configured in the fixed run


def test_policy_staleness_distribution(con, out):
    def step(v):
        m = re.search(r"(\d+)$", v or "")
        return int(m.group(1)) if m else None

    rl = read_output(out, "rl")
    begin = [step(e["policy_version_begin"]) for e in rl]
    end = [step(e["policy_version_end"]) for e in rl]
    within = collections.Counter(e - b for b, e in zip(begin, end))
    behind = collections.Counter(max(end) - e for e in end)
    got = collections.defaultdict(dict)
    for r in rows(con, "policy_staleness"):
        got[r["measure"]][r["staleness"]] = r["examples"]
        assert r["share"] == pytest.approx(r["examples"] / len(rl), abs=1e-6)
    assert got["within_rollout"] == dict(within)
    assert got["behind_latest"] == dict(behind)
    assert within[1] == 1  # r-006 ran across a policy update (step-100 -> step-101)


def test_dead_letters_and_grading_outcomes(con, out):
    dead = collections.Counter((r["record_kind"], r["stage"], r["reason"], r["error"]["type"])
                               for r in read_output(out, "rejections") if r["disposition"] == "dead_lettered")
    got = {(r["record_kind"], r["stage"], r["reason"], r["error_type"]): r["records"] for r in rows(con, "dead_letters")}
    assert got == dict(dead)
    runs = collections.Counter((r["repo"], r["outcome"]) for r in read_output(out, "test_runs"))
    got = collections.Counter()
    for r in rows(con, "grading_outcomes"):
        got[(r["repo"], r["outcome"])] += r["runs"]
    assert got == runs
