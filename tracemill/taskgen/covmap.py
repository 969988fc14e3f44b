"""The coverage map: which tests execute which source lines, from one instrumented clean run.

A tiny pytest plugin (written next to the env's venv, loaded with `-p`) starts coverage.py before
collection, switches the dynamic context to each test's node id, and dumps {file: {line: [node
ids]}} as JSON. Mutate-fix then runs only the tests that execute a mutant's lines: sound for
deterministic tests, and the final lists are confirmed by one full run per kept task. Lines run
outside any test (at import or collection) map to the context "" and force a full run.
"""

from __future__ import annotations

import json
from pathlib import Path

from tracemill.envs import EnvSpec
from tracemill.errors import InfraError
from tracemill.sandbox import SandboxLimits
from tracemill.verify.pytest_runner import run_pytest

PLUGIN_NAME = "tracemill_covmap"
IMPORT_CONTEXT = ""
COVERAGE_LIMITS = SandboxLimits(timeout_s=900.0)

_PLUGIN = r'''
"""tracemill coverage-map plugin: per-test line coverage as JSON (written by tracemill.taskgen.covmap)."""
import json, os
import coverage
import pytest

_cov = None


def pytest_configure(config):
    global _cov
    root = os.environ["TRACEMILL_COVMAP_ROOT"]
    _cov = coverage.Coverage(data_file=None, source=[root], config_file=False, branch=False)
    _cov.start()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    _cov.switch_context(item.nodeid)
    yield
    _cov.switch_context("")


def pytest_unconfigure(config):
    if _cov is None:
        return
    _cov.stop()
    data = _cov.get_data()
    root = os.environ["TRACEMILL_COVMAP_ROOT"].rstrip("/") + "/"
    out = {}
    for path in data.measured_files():
        if not path.startswith(root):
            continue
        by_line = data.contexts_by_lineno(path)
        out[path[len(root):]] = {str(k): sorted(set(v)) for k, v in by_line.items()}
    with open(os.environ["TRACEMILL_COVMAP_OUT"], "w") as fh:
        json.dump(out, fh, sort_keys=True)
'''


def plugin_dir(spec: EnvSpec) -> Path:
    d = Path(spec.env_dir) / "plugins"
    path = d / f"{PLUGIN_NAME}.py"
    if not path.is_file() or path.read_text() != _PLUGIN:
        d.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(_PLUGIN)
        tmp.replace(path)
    return d


def build_coverage_map(spec: EnvSpec, tree: Path, *, limits: SandboxLimits = COVERAGE_LIMITS) -> tuple[dict[str, dict[int, list[str]]], dict]:
    """({tree-relative file: {line: [node ids]}}, the run's statuses) from one instrumented run."""
    tree = Path(tree)
    plugins = plugin_dir(spec)
    # The map is written inside the (private, writable) work tree: the sandbox binds nothing else rw.
    out = tree / ".tracemill-covmap.json"
    env = spec.sandbox_env(tree)
    env["PYTHONPATH"] = f"{plugins}:{env['PYTHONPATH']}"
    env.update({"TRACEMILL_COVMAP_ROOT": str(tree), "TRACEMILL_COVMAP_OUT": str(out)})
    run = run_pytest(tree, list(spec.test_paths), python=spec.python, limits=limits,
                     extra_args=("-p", PLUGIN_NAME, "--continue-on-collection-errors"),
                     ro_paths=(spec.env_dir,), env=env)
    if run.infra_failure_reason:
        raise InfraError(f"coverage run failed: {run.infra_failure_reason}: {(run.stdout + run.stderr)[-600:]}",
                         reason="coverage_run_failed")
    if not out.is_file():
        raise InfraError(f"coverage plugin wrote no map: {(run.stdout + run.stderr)[-600:]}",
                         reason="coverage_run_failed")
    raw = json.loads(out.read_text())
    out.unlink()
    covmap = {f: {int(k): v for k, v in lines.items()} for f, lines in raw.items()}
    return covmap, run.status_map()


def tests_for_lines(covmap: dict[str, dict[int, list[str]]], path: str, lines: list[int]) -> list[str] | None:
    """Node ids that execute any of `lines` in `path`; None when a line runs outside tests (full run needed)."""
    hit: set[str] = set()
    by_line = covmap.get(path, {})
    for n in lines:
        for ctx in by_line.get(n, ()):
            if ctx == IMPORT_CONTEXT:
                return None
            hit.add(ctx)
    return sorted(hit)
