"""Diff inspection with a real diff parser (unidiff): which files a patch touches, and which are tests."""

from __future__ import annotations

import hashlib
import re
from pathlib import PurePosixPath

from unidiff import PatchSet
from unidiff.errors import UnidiffParseError

from tracemill.errors import RecordError

_TEST_DIRS = {"test", "tests", "testing"}
_TEST_CONFIG = {"conftest.py", "pytest.ini", "tox.ini"}


def sha256_text(text: str | None) -> str:
    return hashlib.sha256((text or "").encode("utf-8")).hexdigest()


def is_test_path(path: str) -> bool:
    """Test code or test configuration, the SWE-bench harness's notion of what the test patch owns."""
    p = PurePosixPath(path)
    name = p.name
    if name in _TEST_CONFIG:
        return True
    if re.fullmatch(r"test_.*\.py|.*_test\.py|tests?\.py", name):
        return True
    return any(part in _TEST_DIRS for part in p.parts[:-1])


def _strip(path: str | None) -> str | None:
    if path is None or path == "/dev/null":
        return None
    return path[2:] if path[:2] in ("a/", "b/") else path


def parse(patch: str) -> PatchSet:
    try:
        return PatchSet(patch)
    except UnidiffParseError as exc:
        raise RecordError(f"unparseable diff: {exc}", reason="unparseable_patch") from exc


def touched_files(patch: str) -> list[str]:
    """Every path a patch reads or writes (old and new names of renames), sorted."""
    paths: set[str] = set()
    for pf in parse(patch):
        for p in (_strip(pf.source_file), _strip(pf.target_file)):
            if p:
                paths.add(p)
    return sorted(paths)


def split_patch(patch: str) -> tuple[str, str]:
    """(code part, test part) of a diff, each a valid diff of its files."""
    code, tests = [], []
    for pf in parse(patch):
        path = _strip(pf.target_file) or _strip(pf.source_file) or ""
        (tests if is_test_path(path) else code).append(str(pf))
    return "".join(code), "".join(tests)


def changed_line_count(patch: str) -> int:
    ps = parse(patch)
    return sum(pf.added + pf.removed for pf in ps)
