"""The bundled sample: the `textkit` project (a real pytest suite), tasks against it and recorded rollouts.

The project ships as a plain tree and is materialized on first use as a git repository with a fixed
author, committer and date, so its `base_commit` is the same sha on every machine and worker.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from importlib import resources
from pathlib import Path

SAMPLE_REPO_NAME = "tracemill/textkit"
SAMPLE_REF = "@sample"
_GIT_ENV = {
    "GIT_AUTHOR_NAME": "tracemill sample",
    "GIT_AUTHOR_EMAIL": "sample@tracemill.invalid",
    "GIT_AUTHOR_DATE": "2026-01-01T00:00:00+00:00",
    "GIT_COMMITTER_NAME": "tracemill sample",
    "GIT_COMMITTER_EMAIL": "sample@tracemill.invalid",
    "GIT_COMMITTER_DATE": "2026-01-01T00:00:00+00:00",
    "GIT_CONFIG_GLOBAL": "/dev/null",
    "GIT_CONFIG_SYSTEM": "/dev/null",
}


def data_path(name: str) -> Path:
    """Path of a file shipped in the sample (tasks.jsonl, rollouts.jsonl, ...)."""
    return Path(str(resources.files(__package__).joinpath(name)))


def cache_dir() -> Path:
    return Path(os.environ.get("TRACEMILL_CACHE", Path.home() / ".cache" / "tracemill"))


def _source_files() -> list[tuple[str, bytes]]:
    root = data_path("repo")
    files = []
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if path.is_file() and "__pycache__" not in rel and not rel.endswith(".pyc"):
            files.append((rel, path.read_bytes()))
    return files


def repo_path() -> Path:
    """A git repository of the sample project (created once per content version, atomically)."""
    files = _source_files()
    digest = hashlib.sha256(b"".join(rel.encode() + b"\0" + data for rel, data in files)).hexdigest()[:16]
    dest = cache_dir() / "sample" / f"textkit-{digest}"
    if (dest / ".git").exists():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="textkit-", dir=dest.parent))
    for rel, data in files:
        (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp / rel).write_bytes(data)
    env = {**os.environ, **_GIT_ENV}
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "textkit 0.3.0"]):
        subprocess.run(["git", *args], cwd=tmp, env=env, check=True, capture_output=True)
    try:
        tmp.rename(dest)
    except OSError:  # another process won the race; its copy is identical
        shutil.rmtree(tmp, ignore_errors=True)
    return dest


def resolve_repo_ref(ref: str) -> Path:
    """A configured repository reference as a local path: `@sample` is the bundled project."""
    return repo_path() if ref == SAMPLE_REF else Path(ref)


def base_commit() -> str:
    out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo_path(), check=True, capture_output=True, text=True)
    return out.stdout.strip()
