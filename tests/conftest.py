"""Shared test helpers: the real-fixture folder (skipped when absent) and the sandbox requirement."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_FIXTURES = ROOT.parent / "shared" / "fixtures"
# Materialized sample repos and environment caches go to a throwaway folder, not the user's home.
os.environ.setdefault("TRACEMILL_CACHE", tempfile.mkdtemp(prefix="tracemill-test-cache-"))


def sample_records(name: str) -> list[dict]:
    """Parseable records of a bundled sample file (malformed lines skipped)."""
    from tracemill import sample

    out = []
    for line in sample.data_path(name).read_text().splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return out


@pytest.fixture(scope="session")
def sample_tasks() -> dict[str, dict]:
    return {t["instance_id"]: t for t in sample_records("tasks.jsonl")}


@pytest.fixture(scope="session")
def sample_rollouts() -> dict[str, dict]:
    return {r["traj_id"]: r for r in sample_records("rollouts.jsonl")}


@pytest.fixture(scope="session")
def sample_repo() -> str:
    from tracemill import sample

    return str(sample.repo_path())


@pytest.fixture
def shared_fixtures() -> Path:
    if not SHARED_FIXTURES.is_dir():
        pytest.skip(f"real third-party fixtures not present at {SHARED_FIXTURES}")
    return SHARED_FIXTURES


def pytest_collection_modifyitems(config, items):
    if shutil.which("bwrap"):
        return
    skip = pytest.mark.skip(reason="bubblewrap (bwrap) is not installed; .ci/run installs it")
    for item in items:
        if "sandbox" in item.keywords:
            item.add_marker(skip)
