"""`tracemill mine-prs` end to end on the scripted fixture repo: real git, real pytest in bubblewrap."""

import json
import subprocess

import pytest

import schemas
from tests.repo_factory import build_history_repo, shared_cache
from tracemill.cli import main

pytestmark = pytest.mark.sandbox


def rows(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def git_state(path):
    head = subprocess.run(["git", "-C", str(path), "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout
    status = subprocess.run(["git", "-C", str(path), "status", "--porcelain", "--ignored"], capture_output=True, check=True,
                            text=True).stdout
    return head, status


@pytest.fixture(scope="module")
def mined(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("TRACEMILL_CACHE", str(shared_cache()))
    repo = tmp_path_factory.mktemp("hist") / "calc"
    shas = build_history_repo(repo)
    before = git_state(repo)
    out = tmp_path_factory.mktemp("out")
    rc = main(["mine-prs", "--repo", str(repo), "--out", str(out)])
    yield repo, shas, out, rc, before
    mp.undo()


def test_run_reconciles_and_leaves_the_repo_untouched(mined):
    repo, _, out, rc, before = mined
    manifest = json.loads((out / "manifest.json").read_text())
    assert rc == 0 and manifest["counts"]["reconciled"]
    assert manifest["counts"]["total"] == {"input": 7, "emitted": 3, "filtered": 4, "deduplicated": 0,
                                           "dead_lettered": 0}
    assert git_state(repo) == before
    assert schemas.errors("manifest", manifest) == []
    assert all(schemas.errors("task", t) == [] for t in rows(out / "tasks.jsonl"))
    assert all(schemas.errors("rejection", r) == [] for r in rows(out / "rejections.jsonl"))


def test_tasks_carry_commit_base_and_lists(mined):
    _, shas, out, _, _ = mined
    tasks = {t["instance_id"]: t for t in rows(out / "tasks.jsonl")}
    assert set(tasks) == {"calc-12", "calc-15", f"calc-{shas['plain_fix'][:12]}"}
    fix = tasks[f"calc-{shas['plain_fix'][:12]}"]
    assert fix["source"] == "commit" and fix["provenance"]["commit"] == shas["plain_fix"]
    assert fix["base_commit"] == shas["squash_pr15"]
    assert fix["FAIL_TO_PASS"] == ["tests/test_sub.py::test_sub"]
    assert fix["PASS_TO_PASS"] == ["tests/test_sub.py::test_add_still_works"]


def test_flaky_test_is_dropped_and_recorded(mined):
    _, shas, out, _, _ = mined
    fix = next(t for t in rows(out / "tasks.jsonl") if t["provenance"]["commit"] == shas["plain_fix"])
    flaky = "tests/test_flaky.py::test_sometimes"
    assert fix["provenance"]["flaky_tests"] == [flaky]
    assert flaky not in fix["FAIL_TO_PASS"] + fix["PASS_TO_PASS"]


def test_collection_errors_are_flagged_not_hidden(mined):
    _, _, out, _, _ = mined
    tasks = {t["instance_id"]: t for t in rows(out / "tasks.jsonl")}
    squash = tasks["calc-15"]
    assert squash["flags"] == ["collection_error"]
    assert squash["provenance"]["collection_errors"] == [{"module": "tests/test_div.py", "tests_affected": 2}]
    # The merge PR's test module imports the new function: its old tests show up as FAIL_TO_PASS, flagged.
    merge = tasks["calc-12"]
    assert merge["flags"] == ["collection_error"] and "tests/test_core.py::test_mul" in merge["FAIL_TO_PASS"]
    assert merge["provenance"]["collection_errors"][0]["tests_affected"] == len(merge["FAIL_TO_PASS"])


def test_every_rejected_commit_keeps_its_reason(mined):
    _, shas, out, _, _ = mined
    reasons = {r["record_id"]: (r["stage"], r["reason"]) for r in rows(out / "rejections.jsonl")}
    assert reasons == {
        f"commit:{shas['docs']}": ("candidates", "no_code_change"),
        f"commit:{shas['code_only']}": ("candidates", "no_test_change"),
        f"commit:{shas['initial']}": ("candidates", "root_commit"),
        "calc-20": ("validate", "no_fail_to_pass"),
    }


def test_collection_error_policy_reject_and_commit_selection(mined, tmp_path, monkeypatch):
    repo, shas, _, _, _ = mined
    monkeypatch.setenv("TRACEMILL_CACHE", str(shared_cache()))
    rc = main(["mine-prs", "--repo", str(repo), "--out", str(tmp_path), "--commits", shas["squash_pr15"],
               "--collection-errors", "reject", "--repeats", "1"])
    assert rc == 0 and rows(tmp_path / "tasks.jsonl") == []
    (rej,) = rows(tmp_path / "rejections.jsonl")
    assert (rej["record_id"], rej["stage"], rej["reason"], rej["signal"]) == ("calc-15", "filter",
                                                                             "collection_error", 2.0)


def test_bare_repository_and_max_candidates(mined, tmp_path, monkeypatch):
    repo, shas, _, _, _ = mined
    monkeypatch.setenv("TRACEMILL_CACHE", str(shared_cache()))
    bare = tmp_path / "calc.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(repo), str(bare)], check=True)
    rc = main(["mine-prs", "--repo", str(bare), "--out", str(tmp_path / "out"), "--max-candidates", "2",
               "--repeats", "1"])
    manifest = json.loads((tmp_path / "out/manifest.json").read_text())
    # Newest first, the walk stops at the 2nd commit changing code and tests: refactor, code_only, docs, plain_fix.
    assert rc == 0 and manifest["counts"]["total"]["input"] == 4
    (task,) = rows(tmp_path / "out/tasks.jsonl")
    assert task["provenance"]["commit"] == shas["plain_fix"] and task["FAIL_TO_PASS"] == ["tests/test_sub.py::test_sub"]
