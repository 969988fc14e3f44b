"""A commit to work from, without ever touching the user's repository.

A git work tree is used as is (its HEAD commit; trees are extracted with `git archive`). Any
other source tree (an unpacked sdist) is copied into the cache and committed once with a fixed
author and date, so the same tree always gives the same `base_commit`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from tracemill.errors import ConfigError
from tracemill.records import stable_hash

_FIXED_ENV = {"GIT_AUTHOR_NAME": "tracemill", "GIT_AUTHOR_EMAIL": "tracemill@localhost",
              "GIT_COMMITTER_NAME": "tracemill", "GIT_COMMITTER_EMAIL": "tracemill@localhost",
              "GIT_AUTHOR_DATE": "2000-01-01T00:00:00Z", "GIT_COMMITTER_DATE": "2000-01-01T00:00:00Z"}
_SKIP = shutil.ignore_patterns(".git", "__pycache__", "*.pyc", ".pytest_cache", ".tox", ".venv", "*.egg-info",
                               "build", "dist")


def git(args: list[str], cwd: Path | str, env: dict | None = None, check: bool = True) -> str:
    res = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True,
                         env={**os.environ, **(env or {})}, check=False)
    if check and res.returncode != 0:
        raise ConfigError(f"git {' '.join(args[:2])} failed in {cwd}: {res.stderr.strip()[:300]}")
    return res.stdout


def is_git_worktree(path: Path) -> bool:
    res = subprocess.run(["git", "-C", str(path), "rev-parse", "--is-inside-work-tree"], capture_output=True,
                         text=True, check=False)
    top = subprocess.run(["git", "-C", str(path), "rev-parse", "--show-toplevel"], capture_output=True,
                         text=True, check=False)
    return (res.returncode == 0 and res.stdout.strip() == "true"
            and os.path.realpath(top.stdout.strip()) == os.path.realpath(path))


def _tree_digest(path: Path) -> str:
    parts = []
    for root, dirs, files in os.walk(path):
        dirs[:] = sorted(d for d in dirs if not _SKIP(root, [d]))
        for f in sorted(files):
            if _SKIP(root, [f]):
                continue
            p = Path(root, f)
            if p.is_file():
                parts.append((p.relative_to(path).as_posix(), p.stat().st_size, p.stat().st_mtime_ns))
    return stable_hash(str(path.resolve()), parts)[:16]


def snapshot(path: Path, cache: Path) -> tuple[str, str]:
    """(git repository path, commit sha) standing for the tree at `path`."""
    path = Path(path).resolve()
    if not path.is_dir():
        raise ConfigError(f"not a directory: {path}")
    if is_git_worktree(path):
        return str(path), git(["rev-parse", "HEAD"], path).strip()
    dest = Path(cache) / "snapshots" / f"{path.name}-{_tree_digest(path)}"
    if (dest / ".git").is_dir():
        return str(dest), git(["rev-parse", "HEAD"], dest).strip()
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}-", dir=dest.parent))
    shutil.copytree(path, tmp / "tree", symlinks=True, ignore=_SKIP)
    work = tmp / "tree"
    git(["init", "-q", "-b", "main"], work)
    git(["add", "-A", "-f", "."], work)
    git(["-c", "commit.gpgsign=false", "commit", "-q", "--no-verify", "-m", "tracemill snapshot of a source tree"], work,
        env=_FIXED_ENV)
    try:
        os.rename(work, dest)
    except OSError:
        if not (dest / ".git").is_dir():
            raise
    shutil.rmtree(tmp, ignore_errors=True)
    return str(dest), git(["rev-parse", "HEAD"], dest).strip()
