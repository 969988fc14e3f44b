"""Repository environments: detection from packaging files, cached venvs, clean-run check, snapshots."""

import json
import subprocess

import pytest

from tests.repo_factory import build_mutate_repo, shared_cache
from tracemill.cli import main
from tracemill.envs import check_clean_run, dependency_hash, detect, ensure_env
from tracemill.envs.snapshot import snapshot
from tracemill.errors import ConfigError


def test_detect_src_layout_with_test_extras_and_requirements(tmp_path):
    (tmp_path / "src/pkg").mkdir(parents=True)
    (tmp_path / "tests").mkdir()
    (tmp_path / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools"]\n\n[project]\nname = "pkg"\nversion = "1"\n'
        '[project.optional-dependencies]\ntest = ["pytest"]\ndocs = ["sphinx"]\n')
    (tmp_path / "requirements-dev.txt").write_text("pytest\n")
    plan = detect(tmp_path)
    assert plan.method == "pyproject" and plan.installable
    assert plan.extras == ("test",) and plan.requirement_files == ("requirements-dev.txt",)
    assert plan.python_paths == ("src", ".") and plan.test_paths == ("tests",)


def test_detect_setup_cfg_extras(tmp_path):
    (tmp_path / "setup.py").write_text("from setuptools import setup\nsetup()\n")
    (tmp_path / "setup.cfg").write_text("[options.extras_require]\ntesting = pytest\nfast = ujson\n")
    plan = detect(tmp_path)
    assert plan.method == "setup.py" and plan.extras == ("testing",) and plan.python_paths == (".",)


def test_dependency_hash_follows_dependency_files_only(tmp_path):
    build_mutate_repo(tmp_path)
    h = dependency_hash(tmp_path)
    (tmp_path / "calc/core.py").write_text("x = 1\n")
    assert dependency_hash(tmp_path) == h
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "calc"\nversion = "0.2.0"\n\n')
    assert dependency_hash(tmp_path) != h


def test_snapshot_of_a_plain_tree_is_a_deterministic_commit(tmp_path):
    build_mutate_repo(tmp_path / "a")
    build_mutate_repo(tmp_path / "b")
    repo_a, sha_a = snapshot(tmp_path / "a", tmp_path / "cache")
    _, sha_b = snapshot(tmp_path / "b", tmp_path / "cache")
    assert sha_a == sha_b and len(sha_a) == 40
    assert not (tmp_path / "a/.git").exists()
    files = subprocess.run(["git", "-C", repo_a, "ls-files"], capture_output=True, text=True, check=True).stdout.split()
    assert "calc/core.py" in files


@pytest.mark.sandbox
def test_env_is_built_once_per_dependency_hash_and_records_a_spec(tmp_path, monkeypatch):
    monkeypatch.setenv("TRACEMILL_CACHE", str(shared_cache()))
    build_mutate_repo(tmp_path / "calc")
    spec = ensure_env(tmp_path / "calc", "calc")
    stamp = (shared_cache() / "envs" / spec.env_dir.rsplit("/", 1)[-1] / "spec.json").stat().st_mtime_ns
    again = ensure_env(tmp_path / "calc", "calc")
    assert again.key == spec.key and (shared_cache() / "envs" / spec.env_dir.rsplit("/", 1)[-1]
                                      / "spec.json").stat().st_mtime_ns == stamp
    assert spec.install_method == "pyproject" and any("pip install" in c for c in spec.install_commands)
    assert spec.python_version.count(".") == 2
    summary = check_clean_run(spec, tmp_path / "calc")
    assert summary["passed"] == 4 and summary["pass_ratio"] == 1.0
    (tmp_path / "calc/tests/test_core.py").write_text("def test_x():\n    assert 0\n")
    with pytest.raises(ConfigError, match="pass ratio 0.0"):
        check_clean_run(spec, tmp_path / "calc")


@pytest.mark.sandbox
def test_env_build_command_writes_the_spec(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TRACEMILL_CACHE", str(shared_cache()))
    build_mutate_repo(tmp_path / "calc")
    assert main(["env", "build", str(tmp_path / "calc"), "--out", str(tmp_path / "spec.json")]) == 0
    spec = json.loads((tmp_path / "spec.json").read_text())
    assert spec["clean_run"]["passed"] == 4 and spec["test_command"].startswith("python -m pytest")
    assert not (tmp_path / "calc/.git").exists()
