"""`tracemill mutate` end to end: fixture source tree (fast) and a pinned real sdist from PyPI (slow)."""

import json
import subprocess

import pytest

from tests.repo_factory import build_mutate_repo, fetch_sdist, shared_cache
from tracemill.cli import main

pytestmark = pytest.mark.sandbox


def rows(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def snapshot_files(root):
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def mutated(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("TRACEMILL_CACHE", str(shared_cache()))
    src = tmp_path_factory.mktemp("src") / "calc"
    build_mutate_repo(src)
    before = snapshot_files(src)
    out = tmp_path_factory.mktemp("out")
    rc = main(["mutate", "--repo", str(src), "--out", str(out), "--max-tasks", "4", "--seed", "7", "--combine", "1"])
    yield src, out, rc, before
    mp.undo()


def test_emits_max_tasks_and_reconciles(mutated):
    _, out, rc, _ = mutated
    manifest = json.loads((out / "manifest.json").read_text())
    total = manifest["counts"]["total"]
    assert rc == 0 and manifest["counts"]["reconciled"]
    # 6 mutants screened for 4 tasks (oversample 1.5), plus 1 combined candidate made from two validated ones.
    assert total["emitted"] == 5 and total["input"] == 7
    assert total["emitted"] + total["filtered"] + total["deduplicated"] + total["dead_lettered"] == total["input"]


def test_source_tree_is_not_modified_nor_made_a_git_repo(mutated):
    src, _, _, before = mutated
    assert snapshot_files(src) == before and not (src / ".git").exists()


def test_bug_patch_breaks_fail_to_pass_and_patch_restores_the_tree(mutated, tmp_path):
    src, out, _, _ = mutated
    for task in rows(out / "tasks.jsonl"):
        assert task["source"] == "mutation" and task["test_patch"] == "" and len(task["base_commit"]) == 40
        assert task["FAIL_TO_PASS"] and task["PASS_TO_PASS"]
        assert not set(task["FAIL_TO_PASS"]) & set(task["PASS_TO_PASS"])
        work = tmp_path / task["instance_id"]
        subprocess.run(["cp", "-r", str(src), str(work)], check=True)
        subprocess.run(["git", "init", "-q"], cwd=work, check=True)
        clean = (work / "calc/core.py").read_text()
        subprocess.run(["git", "apply", "-"], cwd=work, input=task["bug_patch"].encode(), check=True)
        assert (work / "calc/core.py").read_text() != clean
        subprocess.run(["git", "apply", "-"], cwd=work, input=task["patch"].encode(), check=True)
        assert (work / "calc/core.py").read_text() == clean
        assert task["FAIL_TO_PASS"][0] in task["problem_statement"]


def test_combined_task_applies_two_validated_mutants(mutated):
    _, out, _, _ = mutated
    tasks = {t["instance_id"]: t for t in rows(out / "tasks.jsonl")}
    (combo,) = [t for t in tasks.values() if t["provenance"].get("combined_from")]
    parts = combo["provenance"]["combined_from"]
    assert len(parts) == 2 and all(p in tasks for p in parts)
    changed = [line for line in combo["bug_patch"].splitlines() if line.startswith("+") and not line.startswith("+++")]
    assert len(changed) >= 2
    assert set(combo["FAIL_TO_PASS"]) & set().union(*(tasks[p]["FAIL_TO_PASS"] for p in parts))
    assert combo["PASS_TO_PASS"]


def test_same_seed_gives_byte_identical_outputs(mutated, tmp_path, monkeypatch):
    src, out, _, _ = mutated
    monkeypatch.setenv("TRACEMILL_CACHE", str(shared_cache()))
    assert main(["mutate", "--repo", str(src), "--out", str(tmp_path), "--max-tasks", "4", "--seed", "7",
                 "--combine", "1"]) == 0
    for name in ("tasks.jsonl", "rejections.jsonl", "manifest.json"):
        assert (tmp_path / name).read_bytes() == (out / name).read_bytes(), name


def test_unmostly_passing_repo_is_rejected_with_the_reason(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TRACEMILL_CACHE", str(shared_cache()))
    src = tmp_path / "calc"
    build_mutate_repo(src)
    (src / "tests/test_broken.py").write_text("def test_a():\n    assert 0\n\n\ndef test_b():\n    assert 0\n")
    (src / "tests/test_broken2.py").write_text("def test_c():\n    assert 0\n")
    (src / "tests/test_broken3.py").write_text("def test_d():\n    assert 0\n\n\ndef test_e():\n    assert 0\n")
    assert main(["mutate", "--repo", str(src), "--out", str(tmp_path / "out")]) == 2
    assert "clean suite pass ratio" in capsys.readouterr().err


@pytest.mark.slow
def test_real_sdist_toolz_yields_validated_tasks(tmp_path, monkeypatch):
    monkeypatch.setenv("TRACEMILL_CACHE", str(shared_cache()))
    src = fetch_sdist("toolz", "1.0.0")
    rc = main(["mutate", "--repo", str(src), "--out", str(tmp_path), "--max-tasks", "20", "--seed", "0"])
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    tasks = rows(tmp_path / "tasks.jsonl")
    assert rc == 0 and manifest["counts"]["reconciled"]
    assert len(tasks) >= 15
    assert len({t["provenance"]["operator"] for t in tasks}) >= 8
    assert all(t["FAIL_TO_PASS"] and len(t["PASS_TO_PASS"]) > 100 for t in tasks)
