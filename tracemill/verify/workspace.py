"""Private copies of a repository at a commit, with patches applied the way the SWE-bench harness does.

The pristine tree of each (repo, commit) is extracted once per process with `git archive` and copied
for every run, so the user's repository is never touched.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from tracemill.errors import InfraError
from tracemill.lru import LruCache
from tracemill.verify.patches import is_test_path, touched_files

# Extracted base trees, kept per worker for reuse across the rollouts of a task. Bounded, and evicted
# trees are deleted, so a worker grading many repositories does not fill its disk.
_PRISTINE: LruCache[tuple[str, str], Path] = LruCache(32, on_evict=lambda _, p: shutil.rmtree(p, ignore_errors=True))


class PatchApplyError(Exception):
    """The patch does not apply to the tree (a property of the patch, not of the infrastructure)."""


def _git(args: list[str], cwd: Path | str | None = None, input: bytes | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=cwd, input=input, capture_output=True, check=False)


def pristine_tree(repo_path: str, commit: str) -> Path:
    """A read-only-by-convention extraction of `repo_path` at `commit`, cached per process."""
    key = (os.path.realpath(repo_path), commit)
    with _PRISTINE.lock:
        cached = _PRISTINE.get(key)
        if cached is not None and cached.exists():
            return cached
        dest = Path(tempfile.mkdtemp(prefix=f"tracemill-base-{commit[:10]}-"))
        archive = subprocess.run(["git", "-C", key[0], "archive", "--format=tar", commit],
                                 capture_output=True, check=False)
        if archive.returncode != 0:
            shutil.rmtree(dest, ignore_errors=True)
            raise InfraError(f"git archive {commit} failed in {repo_path}: {archive.stderr.decode()[:300]}",
                             reason="repo_unavailable")
        subprocess.run(["tar", "-x", "-C", str(dest)], input=archive.stdout, check=True)
        _PRISTINE.put(key, dest)
        return dest


def apply_patch(tree: Path, patch: str) -> None:
    if not patch or not patch.strip():
        return
    res = _git(["apply", "--whitespace=nowarn", "--recount", "-"], cwd=tree, input=patch.encode())
    if res.returncode != 0:
        raise PatchApplyError(res.stderr.decode(errors="replace").strip()[:1000])


def restore_test_files(tree: Path, pristine: Path, patch: str) -> list[str]:
    """Undo the patch's edits to test files (tests, conftest.py, pytest config); returns those paths."""
    restored = []
    for rel in touched_files(patch):
        if not is_test_path(rel):
            continue
        src, dst = pristine / rel, tree / rel
        if src.exists():
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst)
        elif dst.exists():
            dst.unlink()
        restored.append(rel)
    return restored


def prepare(repo_path: str, commit: str, patch: str | None, test_patch: str | None, into: Path) -> list[str]:
    """Fill `into` with repo@commit + patch, test files restored, + test_patch. Returns restored paths.

    Raises PatchApplyError when the candidate patch does not apply.
    """
    pristine = pristine_tree(repo_path, commit)
    shutil.copytree(pristine, into, symlinks=True, dirs_exist_ok=True)
    apply_patch(into, patch or "")
    restored = restore_test_files(into, pristine, patch or "") if patch else []
    try:
        apply_patch(into, test_patch or "")
    except PatchApplyError as exc:
        raise InfraError(f"the task's test_patch does not apply: {exc}", reason="test_patch_failed") from exc
    return restored
