"""One repository made ready for task generation: snapshot commit, environment, clean baseline, coverage map.

Everything expensive that is shared by all candidates of a repository happens here once, before
the pipeline: the venv (cached on disk), the clean suite run `repeats` times (flaky tests), and
one instrumented run (the coverage map). The user's tree is only ever read.
"""

from __future__ import annotations

import logging
import os
import subprocess
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from tracemill.envs import EnvSpec, cache_dir, check_clean_run, ensure_env, record_clean_run
from tracemill.envs.snapshot import snapshot
from tracemill.errors import InfraError
from tracemill.records import ORIGIN
from tracemill.sources.mutations import Mutant, enumerate_mutants, sample_mutants, unified_diff
from tracemill.taskgen.covmap import build_coverage_map
from tracemill.taskgen.validation import Baseline, ValidationSettings, run_baseline
from tracemill.verify import workspace
from tracemill.verify.patches import is_test_path

log = logging.getLogger(__name__)
_LICENSE_FILES = ("LICENSE", "LICENSE.txt", "LICENSE.md", "LICENCE", "COPYING")


def repo_name(path: Path) -> str:
    """`owner/name` from the origin remote when there is one, else the directory name."""
    res = subprocess.run(["git", "-C", str(path), "remote", "get-url", "origin"], capture_output=True, text=True,
                         check=False)
    url = res.stdout.strip()
    if res.returncode == 0 and url:
        tail = url.rstrip("/").removesuffix(".git").replace(":", "/").split("/")
        if len(tail) >= 2:
            return f"{tail[-2]}/{tail[-1]}"
    return Path(path).resolve().name


def detect_license(tree: Path) -> str | None:
    pyproject = tree / "pyproject.toml"
    if pyproject.is_file():
        try:
            lic = (tomllib.loads(pyproject.read_text()).get("project") or {}).get("license")
            if isinstance(lic, str):
                return lic
            if isinstance(lic, dict) and lic.get("text"):
                return lic["text"][:100]
        except (tomllib.TOMLDecodeError, UnicodeDecodeError):
            pass
    for name in _LICENSE_FILES:
        p = tree / name
        if p.is_file():
            head = p.read_text(errors="replace").strip().splitlines()[:3]
            text = " ".join(head).lower()
            for key, spdx in (("mit license", "MIT"), ("bsd", "BSD"), ("apache", "Apache-2.0"),
                              ("gnu general public", "GPL"), ("mozilla", "MPL-2.0")):
                if key in text:
                    return spdx
            if "permission is hereby granted" in p.read_text(errors="replace").lower():
                return "MIT"
            return head[0][:100] if head else None
    return None


def commit_date(repo_path: str, commit: str) -> str:
    out = subprocess.run(["git", "-C", repo_path, "show", "-s", "--format=%cI", commit], capture_output=True,
                         text=True, check=True)
    return out.stdout.strip()


@dataclass
class PreparedRepo:
    repo: str
    source_path: str
    repo_path: str
    base_commit: str
    tree: str
    spec: EnvSpec
    baseline: Baseline
    covmap: dict | None
    license: str | None
    created_at: str
    timings: dict = field(default_factory=dict)

    def task_fields(self) -> dict:
        return {"repo": self.repo, "base_commit": self.base_commit, "created_at": self.created_at,
                "license": self.license, "env_key": self.spec.key, "source_path": self.source_path}


def prepare_repo(path: Path, settings: ValidationSettings, *, with_coverage: bool = True) -> PreparedRepo:
    t0 = time.monotonic()
    root = cache_dir()
    repo_path, commit = snapshot(Path(path), root)
    name = repo_name(Path(path))
    tree = workspace.pristine_tree(repo_path, commit)
    spec = ensure_env(tree, name)
    t_env = time.monotonic()
    # The clean runs work on a scratch copy: pytest may write into the tree (conftest caches, data).
    scratch = Path(str(tree) + "-clean")
    if not scratch.exists():
        import shutil

        shutil.copytree(tree, scratch, symlinks=True)
    summary = check_clean_run(spec, scratch, min_pass_ratio=settings.min_pass_ratio, limits=settings.limits)
    record_clean_run(spec, summary)
    baseline = run_baseline(spec, scratch, settings)
    t_base = time.monotonic()
    covmap = None
    if with_coverage:
        try:
            covmap = build_coverage_map(spec, scratch, limits=settings.limits)[0]
        except InfraError as exc:
            # Sound fallback: without the map every mutant is screened with the full suite (slower).
            log.warning("no coverage map for %s (%s); screening with the full suite", name, exc)
    t_cov = time.monotonic()
    return PreparedRepo(
        repo=name, source_path=str(Path(path).resolve()), repo_path=repo_path, base_commit=commit,
        tree=str(tree), spec=spec, baseline=baseline, covmap=covmap, license=detect_license(tree),
        created_at=commit_date(repo_path, commit),
        timings={"env_s": round(t_env - t0, 3), "clean_and_baseline_s": round(t_base - t_env, 3),
                 "coverage_map_s": round(t_cov - t_base, 3),
                 "clean_run_s": summary["duration_s"], "baseline_run_s": [round(d, 3) for d in baseline.durations]},
    )


def _source_files(tree: Path) -> list[str]:
    out = []
    for root, dirs, files in os.walk(tree):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in ("build", "dist", "docs", "doc"))
        for f in sorted(files):
            rel = Path(root, f).relative_to(tree).as_posix()
            if f.endswith(".py") and not is_test_path(rel) and f not in ("setup.py", "conftest.py") \
                    and not f.startswith("_version"):
                out.append(rel)
    return out


def mutation_candidates(prepared: PreparedRepo, *, seed: int, limit: int | None) -> tuple[list[dict], int]:
    """(candidate records in seeded order, number of mutants enumerated) on lines the suite executes."""
    tree = Path(prepared.tree)
    passing = set(prepared.baseline.passing)
    mutants: list[Mutant] = []
    for rel in _source_files(tree):
        by_line = (prepared.covmap or {}).get(rel)
        if prepared.covmap is not None and not by_line:
            continue
        covered = ({n for n, ctxs in by_line.items() if any(c in passing for c in ctxs)} if by_line else None)
        mutants += enumerate_mutants(rel, (tree / rel).read_text(encoding="utf-8", errors="replace"),
                                     covered_lines=covered)
    chosen = sample_mutants(mutants, seed, limit)
    slug = prepared.repo.replace("/", "__")
    out = []
    for seq, m in enumerate(chosen):
        out.append({
            ORIGIN: {"kind": "mutant", "source": m.path, "line": seq},
            "instance_id": f"{slug}.{m.operator}.{m.mutant_id[:12]}",
            "seq": seq, "seed": seed, "path": m.path, "operator": m.operator, "function": m.function,
            "lines": m.changed_lines, "mutant_id": m.mutant_id, "edits": [[e.start, e.end, e.text] for e in m.edits],
            "bug_patch": unified_diff(m.path, m.original, m.mutated),
            "patch": unified_diff(m.path, m.mutated, m.original),
        })
    return out, len(mutants)
