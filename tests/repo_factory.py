"""Fixture git repositories built on the fly: a tiny project with a scripted, PR-like history."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

_ENV = {"GIT_AUTHOR_NAME": "dev", "GIT_AUTHOR_EMAIL": "dev@example.com", "GIT_COMMITTER_NAME": "dev",
        "GIT_COMMITTER_EMAIL": "dev@example.com"}

PYPROJECT = ('[project]\nname = "calc"\nversion = "0.1.0"\n\n[tool.pytest.ini_options]\n'
             'addopts = "--cov=calc --cov-report=term"\n')

CORE_V1 = '''"""calc: tiny arithmetic helpers."""


def add(a, b):
    return a + b


def sub(a, b):
    return b - a  # bug: fixed by a plain commit later


def clamp(x, low, high):
    if x < low:
        return low
    if x > high:
        return high
    return x


def total(items):
    result = 0
    for item in items:
        result += item
    return result
'''

TESTS_V1 = '''from calc.core import add, clamp, total


def test_add():
    assert add(2, 3) == 5


def test_clamp():
    assert clamp(5, 0, 3) == 3
    assert clamp(-1, 0, 3) == 0
    assert clamp(2, 0, 3) == 2


def test_total():
    assert total([1, 2, 3]) == 6
'''

FLAKY = '''from pathlib import Path


def test_sometimes():
    # Alternates between runs of the same tree: a deterministic stand-in for a flaky test.
    counter = Path(__file__).with_name(".flaky_count")
    n = int(counter.read_text()) + 1 if counter.exists() else 1
    counter.write_text(str(n))
    assert n % 2 == 1
'''


class Repo:
    def __init__(self, path: Path):
        self.path = Path(path)
        self.tick = 0

    def git(self, *args: str) -> str:
        self.tick += 1
        date = f"2024-01-01T00:{self.tick // 60:02d}:{self.tick % 60:02d}Z"
        env = {**os.environ, **_ENV, "GIT_AUTHOR_DATE": date, "GIT_COMMITTER_DATE": date}
        return subprocess.run(["git", "-C", str(self.path), *args], check=True, capture_output=True, text=True,
                              env=env).stdout.strip()

    def write(self, rel: str, text: str) -> None:
        p = self.path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)

    def commit(self, message: str) -> str:
        self.git("add", "-A")
        self.git("commit", "-q", "--no-verify", "-m", message)
        return self.git("rev-parse", "HEAD")


def build_history_repo(path: Path) -> dict[str, str]:
    """The scripted history; returns {step name: commit sha}."""
    r = Repo(path)
    path.mkdir(parents=True, exist_ok=True)
    r.git("init", "-q", "-b", "main")
    r.git("config", "commit.gpgsign", "false")
    shas = {}
    r.write("pyproject.toml", PYPROJECT)
    r.write("calc/__init__.py", "")
    r.write("calc/core.py", CORE_V1)
    r.write("tests/test_core.py", TESTS_V1)
    shas["initial"] = r.commit("Initial calc project")

    # A PR merged with a merge commit: adds mul() and its test.
    r.git("checkout", "-q", "-b", "feature/mul")
    r.write("calc/core.py", CORE_V1 + "\n\ndef mul(a, b):\n    return a * b\n")
    r.write("tests/test_core.py", TESTS_V1.replace("import add,", "import add, mul,")
            + "\n\ndef test_mul():\n    assert mul(3, 4) == 12\n")
    r.commit("Add mul")
    r.git("checkout", "-q", "main")
    r.git("merge", "-q", "--no-ff", "feature/mul", "-m", "Merge pull request #12 from dev/feature-mul\n\nAdd mul()")
    shas["merge_pr12"] = r.git("rev-parse", "HEAD")

    # A squash-merged PR whose new test module imports the new API: "before" fails to collect.
    core = (path / "calc/core.py").read_text()
    r.write("calc/core.py", core + "\n\ndef div(a, b):\n    if b == 0:\n        raise ZeroDivisionError('b is 0')\n"
                                   "    return a / b\n")
    r.write("tests/test_div.py", "import pytest\n\nfrom calc.core import div\n\n\ndef test_div():\n"
                                 "    assert div(6, 3) == 2\n\n\ndef test_div_zero():\n"
                                 "    with pytest.raises(ZeroDivisionError):\n        div(1, 0)\n")
    shas["squash_pr15"] = r.commit("Add div (#15)\n\nDivision with a clear error on zero.")

    # A plain commit fixing a bug, with a regression test and a flaky test in the same test patch.
    core = (path / "calc/core.py").read_text()
    r.write("calc/core.py", core.replace("return b - a  # bug: fixed by a plain commit later", "return a - b"))
    r.write("tests/test_sub.py", "from calc.core import add, sub\n\n\ndef test_sub():\n    assert sub(5, 3) == 2\n\n\n"
                                 "def test_add_still_works():\n    assert add(1, 1) == 2\n")
    r.write("tests/test_flaky.py", FLAKY)
    shas["plain_fix"] = r.commit("Fix sub() argument order\n\nsub(a, b) returned b - a.")

    # Docs only, then code without tests, then a refactor whose tests pass on both sides.
    r.write("README.md", "# calc\n")
    shas["docs"] = r.commit("Add README")
    core = (path / "calc/core.py").read_text()
    r.write("calc/core.py", core + "\n\ndef neg(a):\n    return -a\n")
    shas["code_only"] = r.commit("Add neg without tests")
    core = (path / "calc/core.py").read_text()
    r.write("calc/core.py", core.replace("def total(items):\n    result = 0\n    for item in items:\n"
                                         "        result += item\n    return result",
                                         "def total(items):\n    return sum(items)"))
    r.write("tests/test_core.py", (path / "tests/test_core.py").read_text()
            + "\n\ndef test_total_empty():\n    assert total([]) == 0\n")
    shas["refactor"] = r.commit("Simplify total (#20)")
    return shas


def build_mutate_repo(path: Path) -> None:
    """A plain source tree (not a git repo) with a passing suite, for mutate-fix."""
    path.mkdir(parents=True, exist_ok=True)
    (path / "calc").mkdir(exist_ok=True)
    (path / "tests").mkdir(exist_ok=True)
    # Same packaging files as the history fixture (one cached venv); addopts needs pytest-cov, absent on purpose.
    (path / "pyproject.toml").write_text(PYPROJECT)
    (path / "calc/__init__.py").write_text("")
    (path / "calc/core.py").write_text(CORE_V1.replace("return b - a  # bug: fixed by a plain commit later",
                                                       "return a - b"))
    (path / "tests/test_core.py").write_text(TESTS_V1 + "\n\ndef test_sub():\n    from calc.core import sub\n"
                                             "    assert sub(5, 3) == 2\n")


def shared_cache() -> Path:
    """One env cache for the whole test session (and across runs): venvs are built once per dep hash."""
    import tempfile

    return Path(os.environ.get("TRACEMILL_CACHE") or Path(tempfile.gettempdir()) / "tracemill-test-cache")


def fetch_sdist(name: str, version: str, cache: Path | None = None) -> Path:
    """A pinned source distribution from PyPI, downloaded once into the cache and unpacked there."""
    import sys
    import tarfile

    root = (cache or shared_cache()) / "sdists"
    unpacked = root / f"{name}-{version}"
    if (unpacked / "PKG-INFO").is_file():
        return unpacked
    root.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--no-binary", ":all:",
                    "-d", str(root), f"{name}=={version}"], check=True, capture_output=True)
    archive = next(p for p in root.glob("*.tar.gz") if p.name.lower().replace("_", "-").startswith(
        f"{name}-{version}".lower().replace("_", "-")))
    with tarfile.open(archive) as tar:
        tar.extractall(root, filter="data")
    top = next(p for p in root.iterdir() if p.is_dir() and p.name.lower().replace("_", "-")
               == f"{name}-{version}".lower().replace("_", "-"))
    if top != unpacked:
        top.rename(unpacked)
    return unpacked
