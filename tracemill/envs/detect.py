"""How to install a Python project and run its tests, read from its packaging files (no code is run).

Detection looks at pyproject.toml ([project] dependencies and optional test extras), setup.cfg
(install_requires, extras_require), setup.py (only to know that `pip install .` is possible),
requirements files named for tests/dev, and where the tests live (tests/, test/, <pkg>/tests, src/).
"""

from __future__ import annotations

import configparser
import hashlib
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

# Files whose content decides the environment; their hash keys the cached venv.
DEPENDENCY_FILES = ("pyproject.toml", "setup.cfg", "setup.py")
_REQ_GLOBS = ("requirements*.txt", "requirements/*.txt", "*requirements*.txt", "requirements-dev*.txt")
_TEST_EXTRAS = ("test", "tests", "testing", "dev")
_TEST_REQ_HINT = re.compile(r"test|dev|ci", re.IGNORECASE)


@dataclass(frozen=True)
class InstallPlan:
    """What `tracemill env build` will install, and how tests are found."""

    method: str  # pyproject | setup.cfg | setup.py | requirements | none
    installable: bool  # `pip install .` is possible
    extras: tuple[str, ...] = ()
    requirement_files: tuple[str, ...] = ()
    test_runner: str = "pytest"  # pytest (unittest suites run through pytest too)
    test_paths: tuple[str, ...] = ()
    python_paths: tuple[str, ...] = (".",)  # tree-relative import roots (src/ layouts add "src")
    dependency_files: tuple[str, ...] = field(default_factory=tuple)


def _requirement_files(tree: Path) -> list[str]:
    found = set()
    for pattern in _REQ_GLOBS:
        for p in tree.glob(pattern):
            rel = p.relative_to(tree).as_posix()
            if p.is_file() and (_TEST_REQ_HINT.search(rel) or rel == "requirements.txt"):
                found.add(rel)
    return sorted(found)


def _extras(tree: Path) -> list[str]:
    names: set[str] = set()
    pyproject = tree / "pyproject.toml"
    if pyproject.is_file():
        try:
            data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError):
            data = {}
        names |= set((data.get("project") or {}).get("optional-dependencies") or {})
    setup_cfg = tree / "setup.cfg"
    if setup_cfg.is_file():
        cp = configparser.ConfigParser(interpolation=None)
        try:
            cp.read_string(setup_cfg.read_text(encoding="utf-8", errors="replace"))
            if cp.has_section("options.extras_require"):
                names |= set(cp["options.extras_require"])
        except configparser.Error:
            pass
    return sorted(n for n in names if n.lower() in _TEST_EXTRAS)


def _has_build_config(tree: Path) -> bool:
    pyproject = tree / "pyproject.toml"
    if (tree / "setup.py").is_file():
        return True
    if not pyproject.is_file():
        return False
    text = pyproject.read_text(encoding="utf-8", errors="replace")
    return "[build-system]" in text or "[project]" in text


def _test_paths(tree: Path) -> list[str]:
    paths = [d for d in ("tests", "test", "testing") if (tree / d).is_dir()]
    if not paths:
        # Tests inside the package (toolz/tests, src/pkg/tests): let pytest discover from the root.
        paths = []
    return paths


def detect(tree: Path) -> InstallPlan:
    tree = Path(tree)
    if (tree / "pyproject.toml").is_file() and _has_build_config(tree):
        method = "pyproject"
    elif (tree / "setup.py").is_file():
        method = "setup.py"
    elif (tree / "setup.cfg").is_file():
        method = "setup.cfg"
    else:
        method = "requirements" if _requirement_files(tree) else "none"
    python_paths = ["src", "."] if (tree / "src").is_dir() else ["."]
    dep_files = [f for f in DEPENDENCY_FILES if (tree / f).is_file()] + _requirement_files(tree)
    return InstallPlan(
        method=method,
        installable=_has_build_config(tree),
        extras=tuple(_extras(tree)),
        requirement_files=tuple(_requirement_files(tree)),
        test_paths=tuple(_test_paths(tree)),
        python_paths=tuple(python_paths),
        dependency_files=tuple(sorted(set(dep_files))),
    )


def dependency_hash(tree: Path, plan: InstallPlan | None = None) -> str:
    """sha256 over the dependency files' names and bytes: the venv cache key's content part."""
    plan = plan or detect(tree)
    h = hashlib.sha256()
    for rel in plan.dependency_files:
        h.update(rel.encode() + b"\0" + (Path(tree) / rel).read_bytes() + b"\0")
    return h.hexdigest()
