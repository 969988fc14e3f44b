"""History mining on a scripted fixture repo: walk, PR detection, candidate shape, linked issues."""

import json
import subprocess

import pytest

from tests.repo_factory import build_history_repo
from tracemill.records import Rejection
from tracemill.sources.git_history import (
    CandidateBuilder,
    CommitInfo,
    GithubExport,
    commit_records,
    pr_number,
    walk,
)


@pytest.fixture(scope="module")
def history(tmp_path_factory):
    path = tmp_path_factory.mktemp("hist") / "calc"
    return path, build_history_repo(path)


def build_all(path, export=None):
    infos = walk(str(path))
    builder = CandidateBuilder(str(path), "dev/calc", "MIT", export)
    return {r["sha"]: builder(r) for r in commit_records(str(path), infos, "dev/calc")}


def test_walk_follows_first_parents_newest_first(history):
    path, shas = history
    infos = walk(str(path))
    assert [i.sha for i in infos] == [shas[k] for k in ("refactor", "code_only", "docs", "plain_fix", "squash_pr15",
                                                      "merge_pr12", "initial")]


def test_max_candidates_stops_after_enough_code_and_test_commits(history):
    path, shas = history
    infos = walk(str(path), max_candidates=2)
    assert [i.sha for i in infos][-1] == shas["plain_fix"]


def test_pr_kinds_are_recognized():
    assert pr_number(CommitInfo("a", ("p", "q"), "", "Merge pull request #12 from x/y")) == ("merge", 12)
    assert pr_number(CommitInfo("a", ("p",), "", "Add div (#15)\n\nbody")) == ("squash", 15)
    assert pr_number(CommitInfo("a", ("p",), "", "Fix a thing")) == ("plain", None)


def test_candidates_split_code_and_tests_and_record_the_merge_commit(history):
    path, shas = history
    cands = build_all(path)
    merge = cands[shas["merge_pr12"]]
    assert merge["instance_id"] == "dev__calc-12" and merge["source"] == "pr"
    assert merge["provenance"]["commit"] == shas["merge_pr12"]
    first_parent = subprocess.run(["git", "-C", str(path), "rev-parse", shas["merge_pr12"] + "^1"],
                                  capture_output=True, text=True, check=True).stdout.strip()
    assert merge["base_commit"] == first_parent
    assert "calc/core.py" in merge["patch"] and "tests/" not in merge["patch"]
    assert "tests/test_core.py" in merge["test_patch"] and "calc/core.py" not in merge["test_patch"]
    plain = cands[shas["plain_fix"]]
    assert plain["source"] == "commit" and plain["problem_statement"].startswith("Fix sub() argument order")


def test_commits_of_the_wrong_shape_are_rejected_with_a_reason(history):
    path, shas = history
    cands = build_all(path)
    reasons = {k: cands[shas[k]].reason for k in ("docs", "code_only", "initial")}
    assert reasons == {"docs": "no_code_change", "code_only": "no_test_change", "initial": "root_commit"}
    assert all(isinstance(cands[shas[k]], Rejection) for k in reasons)


def test_github_export_supplies_the_linked_issue_text(history, tmp_path):
    path, shas = history
    export_file = tmp_path / "gh.json"
    export_file.write_text(json.dumps({
        "pulls": [{"number": 15, "title": "Add div", "body": "Closes #7", "merge_commit_sha": shas["squash_pr15"],
                   "merged_at": "2024-01-01T00:00:00Z"}],
        "issues": [{"number": 7, "title": "Need division", "body": "calc cannot divide numbers."}],
    }))
    cands = build_all(path, GithubExport.load(export_file))
    squash = cands[shas["squash_pr15"]]
    assert squash["problem_statement"] == "Need division\n\ncalc cannot divide numbers."
    assert squash["provenance"]["linked_issue"] == 7 and squash["provenance"]["pr_number"] == 15
