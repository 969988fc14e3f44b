"""Repo-test candidates: run a repository's test suite in the sandbox and trace the calls the tests
make into the project's own functions (first step of the traces flow for `--repo`).

The repository is copied to a scratch tree (the original is never written), the tracer runtime is
copied beside it as the private package `_tracemill_rt`, and pytest runs with
`-p _tracemill_rt.repo_plugin`. Every captured call is one input unit: its inputs are the bounded
reprs of the arguments (they are not JSON values), its source is the entry's file.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from tracemill.errors import ConfigError, InfraError
from tracemill.records import ORIGIN
from tracemill.sandbox import ExecStatus, SandboxLimits, run_sandboxed
from tracemill.trace.record import input_hash
from tracemill.trace.runner import TRACER_DIR, TraceSettings

KIND = "repo_call"
RUNTIME_FILES = ("tracer.py", "reprs.py", "repo_plugin.py")
_IGNORE = shutil.ignore_patterns(".git", "__pycache__", "*.pyc", ".venv", ".tox", ".pytest_cache", "*.egg-info")


@dataclass(frozen=True)
class RepoSettings:
    per_function: int = 3  # traces per project function
    max_traces: int = 500  # traces per run
    timeout_s: float = 300.0  # the whole test run
    memory_mb: int = 2048
    selection: tuple[str, ...] = ()  # pytest node ids / paths; empty = the configured test paths


def resolve_repo(repo: str) -> tuple[str, Path]:
    """(name, path) of `repo`: a directory, or `@sample` for the bundled textkit project."""
    from tracemill import sample

    if repo == sample.SAMPLE_REF:
        return sample.SAMPLE_REPO_NAME, sample.resolve_repo_ref(repo)
    path = sample.resolve_repo_ref(repo).resolve()
    if not path.is_dir():
        raise ConfigError(f"--repo {repo}: not a directory")
    return path.name, path


def tree_digest(path: Path) -> str:
    """sha256 over the repository's files (relative path + bytes), ignoring VCS and caches; the
    manifest's input hash for `--repo`, so a changed tree is visible even without git."""
    h = hashlib.sha256()
    for f in sorted(p for p in path.rglob("*") if p.is_file()):
        rel = f.relative_to(path).as_posix()
        if any(part in (".git", "__pycache__", ".venv", ".tox", ".pytest_cache") for part in rel.split("/")):
            continue
        h.update(rel.encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()


def _stage_runtime(dest: Path) -> Path:
    pkg = dest / "_tracemill_rt"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    for name in RUNTIME_FILES:
        shutil.copyfile(TRACER_DIR / name, pkg / name)
    return dest


def capture_calls(repo: str, settings: TraceSettings | None = None, repo_settings: RepoSettings | None = None,
                  *, python: str | None = None) -> tuple[str, list[dict], dict]:
    """Run the suite once; (repo name, raw trace results in capture order, run summary)."""
    settings, repo_settings = settings or TraceSettings(), repo_settings or RepoSettings()
    name, path = resolve_repo(repo)
    env_settings = {**settings.tracer_settings(), "per_function": repo_settings.per_function,
                    "max_traces": repo_settings.max_traces}
    with tempfile.TemporaryDirectory(prefix="tracemill-repo-") as tmp:
        work = Path(tmp) / "repo"
        shutil.copytree(path, work, ignore=_IGNORE, symlinks=True)
        runtime = _stage_runtime(Path(tmp) / "rt")
        out_file = work / ".tracemill-traces.jsonl"
        res = run_sandboxed(
            [python or sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p",
             "_tracemill_rt.repo_plugin", *repo_settings.selection],
            workdir=work,
            limits=SandboxLimits(timeout_s=repo_settings.timeout_s, memory_mb=repo_settings.memory_mb),
            ro_paths=(str(runtime),),
            env={"PYTHONPATH": f"{work}:{runtime}", "TRACEMILL_TRACE_OUT": str(out_file),
                 "TRACEMILL_TRACE_SETTINGS": json.dumps(env_settings)},
        )
        if res.status is ExecStatus.INFRA_ERROR:
            raise InfraError(f"repo trace sandbox failed: {res.detail}", reason="sandbox_infra_error")
        lines = out_file.read_text(encoding="utf-8").splitlines() if out_file.exists() else []
        results = []
        for line in lines:
            try:
                results.append(json.loads(line))
            except json.JSONDecodeError:
                break  # the last line of a run killed mid-write
        summary = {"status": res.status.value, "returncode": res.returncode, "traces": len(results),
                   # pytest's last line without its timing ("22 passed in 0.11s" -> "22 passed"), so
                   # the manifest stays byte-identical between runs.
                   "pytest_summary": re.sub(r"\s+in [0-9.]+s.*$", "", res.stdout.strip().splitlines()[-1])
                   .strip("= ") if res.stdout.strip() else ""}
        sources = {r["path"]: (path / r["path"]).read_text(encoding="utf-8", errors="replace")
                   for r in results if (path / r["path"]).is_file()}
    for r in results:
        r["source"] = sources.get(r["path"], "")
    return name, results, summary


def candidate_and_result(repo_name: str, raw: dict) -> tuple[dict, dict]:
    """Split one captured call into the candidate (what was called) and its tracer result."""
    snippet_id = f"{repo_name}:{raw['path']}:{raw['qualname']}"
    inputs = raw["inputs"]
    candidate = {
        "id": f"{snippet_id}#{raw['index']}",
        "snippet_id": snippet_id,
        "input_index": raw["index"],
        "source_kind": "repo_test",
        "repo": repo_name,
        "path": raw["path"],
        "source": raw["source"],
        "entry": raw["qualname"],
        "inputs": inputs,
        "input_hash": input_hash(raw["source"], raw["qualname"], inputs),
        ORIGIN: {"kind": KIND, "source": f"{repo_name}:{raw['test']}", "line": raw["index"]},
    }
    result = {k: raw.get(k) for k in ("status", "truncation_reason", "return_value", "exception", "events",
                                       "stdout", "load_error")}
    return candidate, result
