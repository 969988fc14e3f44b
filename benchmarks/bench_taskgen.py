"""Task-factory cost: sandbox overhead per test run, and validated tasks per hour, each beside its baseline.

Side by side:
- the same pytest command on the same tree and venv, in bubblewrap (`run_pytest`) vs unsandboxed
  (a plain subprocess with the same environment); medians over interleaved repeats, for the full
  suite and for a single small test file (where the fixed overhead shows);
- `tracemill mutate` with the coverage map (screen only the tests that execute the mutated lines)
  vs the same run screening every mutant with the full suite; tasks/hour from pipeline wall time
  (validation) and from total wall time (env, baseline and coverage included);
- `tracemill mine-prs` on the scripted fixture history (candidates, tasks, flaky tests found).

quick: the fixture projects only. full: adds two pinned real projects from PyPI (toolz, more-itertools).
`run(size)` returns the figures; `python -m benchmarks.bench_taskgen [quick|full]` prints them as JSON.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REAL_PROJECTS = (("toolz", "1.0.0"), ("more-itertools", "10.5.0"))
SIZES = {
    "quick": {"overhead_repeats": 5, "max_tasks": 4, "real": False},
    "full": {"overhead_repeats": 7, "max_tasks": 30, "real": True},
}


def _median(xs: list[float]) -> float:
    return round(statistics.median(xs), 4) if xs else 0.0


def sandbox_overhead(spec, tree: Path, selection: list[str], repeats: int) -> dict:
    """Median wall time of one pytest run, sandboxed vs not (same argv, interpreter, env, tree)."""
    from tracemill.verify.pytest_runner import PYTEST_FLAGS

    boxed, bare = [], []
    env = {**spec.sandbox_env(tree), "HOME": tempfile.gettempdir(), "PYTHONDONTWRITEBYTECODE": "1",
           "PYTHONHASHSEED": "0", "LANG": "C.UTF-8", "TZ": "UTC"}
    for _ in range(repeats):  # interleaved, so load changes hit both sides alike
        run = spec.run_tests(tree, selection)
        boxed.append(run.duration_s)
        with tempfile.TemporaryDirectory() as d:
            argv = [spec.python, "-m", "pytest", *PYTEST_FLAGS, f"--junitxml={d}/j.xml", *selection]
            t0 = time.monotonic()
            subprocess.run(argv, cwd=tree, env=env, capture_output=True, check=False)
            bare.append(time.monotonic() - t0)
    b, u = _median(boxed), _median(bare)
    return {"tests": len(run.tests), "sandboxed_s": b, "unsandboxed_s": u, "overhead_s": round(b - u, 4),
            "ratio": round(b / u, 3) if u else None}


def _bwrap_floor(repeats: int) -> float:
    from tracemill.sandbox import run_sandboxed

    with tempfile.TemporaryDirectory() as d:
        return _median([run_sandboxed(["/bin/true"], workdir=Path(d)).duration_s for _ in range(repeats)])


def _mutate(src: Path, out: Path, max_tasks: int, extra: list[str]) -> dict:
    from tracemill.cli import main

    rc = main(["mutate", "--repo", str(src), "--out", str(out), "--max-tasks", str(max_tasks), "--seed", "0",
               *extra])
    manifest = json.loads((out / "manifest.json").read_text())
    info = json.loads((out / "run_info.json").read_text())
    total = manifest["counts"]["total"]
    tasks = total["emitted"]
    return {
        "rc": rc, "candidates": total["input"], "validated_tasks": tasks, "reconciled": manifest["counts"]["reconciled"],
        "flaky_tests": len(manifest["metrics"]["flaky_tests"]), "mutants_enumerated": manifest["metrics"][
            "mutants_enumerated"],
        "clean_tests": manifest["metrics"]["clean_run"]["total"], "wall_s": info["wall_s"],
        "pipeline_s": info["pipeline_s"], "setup": {k: info[k] for k in ("env_s", "clean_and_baseline_s",
                                                                         "coverage_map_s")},
        "tasks_per_hour_pipeline": round(tasks * 3600 / info["pipeline_s"], 1) if info["pipeline_s"] else None,
        "tasks_per_hour_total": round(tasks * 3600 / info["wall_s"], 1) if info["wall_s"] else None,
        "rejections": {r["reason"]: r["count"] for r in _reason_counts(manifest)},
    }


def _reason_counts(manifest: dict) -> list[dict]:
    agg: dict[str, int] = {}
    for row in manifest["counts"]["by_stage"]:
        agg[row["reason"]] = agg.get(row["reason"], 0) + row["count"]
    return [{"reason": k, "count": v} for k, v in sorted(agg.items())]


def _project(name: str, src: Path, work: Path, size: dict) -> dict:
    from tracemill.envs import cache_dir, ensure_env
    from tracemill.envs.snapshot import snapshot
    from tracemill.taskgen.repository import repo_name
    from tracemill.verify import workspace

    with_map = _mutate(src, work / f"{name}-covmap", size["max_tasks"], [])
    full_screen = _mutate(src, work / f"{name}-fullsuite", size["max_tasks"], ["--no-coverage-map"])
    repo_path, commit = snapshot(src, cache_dir())
    tree = work / f"{name}-tree"
    shutil.copytree(workspace.pristine_tree(repo_path, commit), tree)
    spec = ensure_env(tree, repo_name(src))
    small = sorted(str(p.relative_to(tree)) for p in tree.rglob("test_*.py"))
    small = [min(small, key=lambda p: (tree / p).stat().st_size)] if small else []
    return {
        "mutate_with_coverage_map": with_map,
        "mutate_full_suite_screen (baseline)": full_screen,
        "coverage_map_speedup": (round(with_map["tasks_per_hour_pipeline"] / full_screen["tasks_per_hour_pipeline"], 2)
                                 if full_screen["tasks_per_hour_pipeline"] else None),
        "sandbox_overhead_full_suite": sandbox_overhead(spec, tree, list(spec.test_paths), size["overhead_repeats"]),
        "sandbox_overhead_one_file": sandbox_overhead(spec, tree, small, size["overhead_repeats"]),
    }


def _mine(work: Path) -> dict:
    from tests.repo_factory import build_history_repo
    from tracemill.cli import main

    repo = work / "history" / "calc"
    build_history_repo(repo)
    out = work / "history-out"
    t0 = time.monotonic()
    rc = main(["mine-prs", "--repo", str(repo), "--out", str(out)])
    wall = time.monotonic() - t0
    manifest = json.loads((out / "manifest.json").read_text())
    tasks = [json.loads(line) for line in (out / "tasks.jsonl").read_text().splitlines()]
    return {"rc": rc, "candidates": manifest["counts"]["total"]["input"], "validated_tasks": len(tasks),
            "flaky_tests": sorted({f for t in tasks for f in t["provenance"]["flaky_tests"]}),
            "flagged_collection_error": sum("collection_error" in t["flags"] for t in tasks),
            "wall_s": round(wall, 2), "tasks_per_hour": round(len(tasks) * 3600 / wall, 1)}


def _release_history(name: str, versions: tuple[str, ...], work: Path) -> Path:
    """A real project's history, coarse: one commit per released sdist (PyPI is all the network we have)."""
    from tests.repo_factory import Repo, fetch_sdist

    repo = Repo(work / f"{name}-releases")
    repo.path.mkdir(parents=True)
    repo.git("init", "-q", "-b", "main")
    for version in versions:
        src = fetch_sdist(name, version)
        for child in repo.path.iterdir():
            if child.name != ".git":
                shutil.rmtree(child) if child.is_dir() else child.unlink()
        shutil.copytree(src, repo.path, dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns("*.egg-info", "PKG-INFO", "__pycache__"))
        repo.commit(f"Release {version}")
    return repo.path


def _mine_real(name: str, versions: tuple[str, ...], work: Path) -> dict:
    from tracemill.cli import main

    repo = _release_history(name, versions, work)
    out = work / f"{name}-mined"
    t0 = time.monotonic()
    rc = main(["mine-prs", "--repo", str(repo), "--out", str(out)])
    wall = time.monotonic() - t0
    manifest = json.loads((out / "manifest.json").read_text())
    tasks = [json.loads(line) for line in (out / "tasks.jsonl").read_text().splitlines()]
    return {"rc": rc, "releases": list(versions), "candidates": manifest["counts"]["total"]["input"],
            "validated_tasks": len(tasks), "fail_to_pass": [len(t["FAIL_TO_PASS"]) for t in tasks],
            "flaky_tests": sorted({f for t in tasks for f in t["provenance"]["flaky_tests"]}),
            "flagged_collection_error": sum("collection_error" in t["flags"] for t in tasks),
            "rejections": {r["reason"]: r["count"] for r in _reason_counts(manifest)}, "wall_s": round(wall, 2)}


RELEASES = {"toolz": ("0.11.2", "0.12.0", "0.12.1", "1.0.0"),
            "more-itertools": ("10.2.0", "10.3.0", "10.4.0", "10.5.0")}


def run(size: str = "quick") -> dict:
    cfg = SIZES[size]
    from tests.repo_factory import build_mutate_repo, fetch_sdist

    os.environ.setdefault("TRACEMILL_CACHE", str(Path(tempfile.gettempdir()) / "tracemill-bench-cache"))
    result = {"name": "taskgen", "size": size, "cores": os.cpu_count(), "python": sys.version.split()[0]}
    with tempfile.TemporaryDirectory(prefix="tracemill-bench-") as tmp:
        work = Path(tmp)
        result["bwrap_true_s"] = _bwrap_floor(cfg["overhead_repeats"])
        fixture = work / "calc"
        build_mutate_repo(fixture)
        projects = {"fixture-calc": _project("calc", fixture, work, {**cfg, "max_tasks": 4})}
        if cfg["real"]:
            for name, version in REAL_PROJECTS:
                projects[f"{name}-{version}"] = _project(name, fetch_sdist(name, version), work, cfg)
        result["projects"] = projects
        result["mine_prs_fixture_history"] = _mine(work)
        if cfg["real"]:
            result["mine_prs_release_history"] = {n: _mine_real(n, v, work) for n, v in RELEASES.items()}
    return result


if __name__ == "__main__":
    print(json.dumps(run(sys.argv[1] if len(sys.argv) > 1 else "quick"), indent=2))
