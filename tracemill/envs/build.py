"""Build (once) and describe the virtual environment a repository's tests run in.

A venv is built once per (repo, dependency-files hash, Python version) under the cache dir
(`$TRACEMILL_CACHE/envs`, default `~/.cache/tracemill/envs`) and described by `spec.json`:
install commands, test command, Python version and the clean run's pass count. Installing runs
the project's build scripts, i.e. untrusted code, so it runs in the sandbox too, with network
(the package index) and only the venv and a scratch copy of the tree writable.

Tests import the work tree, not the installed copy: `python -m pytest` puts the tree first on
sys.path and src/ layouts get `PYTHONPATH=src`, so a mutated or patched tree is what runs.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tracemill.envs.detect import InstallPlan, dependency_hash, detect
from tracemill.errors import ConfigError, InfraError
from tracemill.records import stable_hash
from tracemill.sandbox import SandboxLimits
from tracemill.sandbox.bwrap import build_command
from tracemill.verify.pytest_runner import PytestRun, run_pytest, test_command

SPEC_VERSION = 1
# pytest runs the repo's suite; coverage powers the per-test coverage map of mutate-fix.
TOOL_PACKAGES = ("pytest", "coverage")
TEST_LIMITS = SandboxLimits(timeout_s=300.0)
CLEAN_LIMITS = SandboxLimits(timeout_s=600.0)


def cache_dir() -> Path:
    root = os.environ.get("TRACEMILL_CACHE")
    return Path(root).expanduser() if root else Path.home() / ".cache" / "tracemill"


@dataclass
class EnvSpec:
    """A reproducible test environment for one repository; plain data so Beam can ship it."""

    repo: str
    key: str
    env_dir: str
    python: str
    python_version: str
    dependency_hash: str
    install_method: str
    install_commands: list[str]
    test_command: str
    test_paths: list[str]
    python_paths: list[str]
    extras: list[str] = field(default_factory=list)
    clean_run: dict = field(default_factory=dict)
    spec_version: int = SPEC_VERSION

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> EnvSpec:
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})

    def sandbox_env(self, tree: Path) -> dict[str, str]:
        paths = [str(Path(tree) / p) if p != "." else str(tree) for p in self.python_paths]
        return {"PYTHONPATH": os.pathsep.join(paths), "VIRTUAL_ENV": self.env_dir + "/venv",
                "PATH": f"{self.env_dir}/venv/bin:/usr/local/bin:/usr/bin:/bin"}

    def run_tests(self, tree: Path, selection: list[str] | None = None, *,
                  limits: SandboxLimits = TEST_LIMITS,
                  extra_args: tuple[str, ...] = (), ro_paths: tuple[str, ...] = (),
                  env: dict[str, str] | None = None) -> PytestRun:
        """Run pytest on `tree` with this environment's interpreter, in the sandbox."""
        sel = list(selection) if selection else list(self.test_paths)
        return run_pytest(Path(tree), sel, python=self.python, limits=limits, extra_args=extra_args,
                          ro_paths=(self.env_dir, *ro_paths), env={**self.sandbox_env(tree), **(env or {})})


def summarize(run: PytestRun) -> dict:
    counts = {"passed": 0, "failed": 0, "error": 0, "skipped": 0}
    for t in run.tests:
        counts[t.status] = counts.get(t.status, 0) + 1
    ran = counts["passed"] + counts["failed"] + counts["error"]
    return {**counts, "total": len(run.tests), "pass_ratio": round(counts["passed"] / ran, 4) if ran else 0.0,
            "duration_s": round(run.duration_s, 3), "exec_status": run.exec_status.value,
            "infra_failure_reason": run.infra_failure_reason}


def _run_with_network(argv: list[str], workdir: Path, rw: tuple[str, ...], timeout_s: float) -> tuple[int, str]:
    """The sandbox of the foundation, plus the network: for pip installing the project's deps."""
    cmd = build_command(argv, workdir=workdir, rw_paths=rw,
                        env={"PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_INPUT": "1"})
    cmd.insert(cmd.index("--unshare-all") + 1, "--share-net")
    try:
        res = subprocess.run(cmd, capture_output=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired:
        return 124, f"timed out after {timeout_s}s"
    return res.returncode, (res.stdout + res.stderr).decode(errors="replace")[-3000:]


def _install_commands(plan: InstallPlan) -> list[list[str]]:
    cmds = [["python", "-m", "pip", "install", "-q", *TOOL_PACKAGES]]
    for req in plan.requirement_files:
        cmds.append(["python", "-m", "pip", "install", "-q", "-r", req])
    if plan.installable:
        target = "." + (f"[{','.join(plan.extras)}]" if plan.extras else "")
        cmds.append(["python", "-m", "pip", "install", "-q", target])
    return cmds


def env_key(repo: str, dep_hash: str, python: str) -> str:
    return stable_hash(repo, dep_hash, python, SPEC_VERSION)[:16]


def _python_version(python: str) -> str:
    out = subprocess.run([python, "-c", "import sys;print('%d.%d.%d' % sys.version_info[:3])"],
                         capture_output=True, text=True, check=True)
    return out.stdout.strip()


def ensure_env(tree: Path, repo: str, *, base_python: str | None = None, root: Path | None = None,
               install_timeout_s: float = 900.0) -> EnvSpec:
    """The cached venv for `tree`'s dependency files, built if missing. Never writes to `tree`."""
    tree = Path(tree)
    plan = detect(tree)
    base_python = base_python or getattr(sys, "_base_executable", None) or sys.executable
    version = _python_version(base_python)
    dep_hash = dependency_hash(tree, plan)
    key = env_key(repo, dep_hash, version)
    root = Path(root or cache_dir()) / "envs"
    slug = "".join(c if c.isalnum() or c in "-_." else "_" for c in repo)[:60]
    env_dir = root / f"{slug}-{key}"
    spec_path = env_dir / "spec.json"
    if spec_path.is_file() and (env_dir / "venv" / "bin" / "python").exists():
        return EnvSpec.from_json(json.loads(spec_path.read_text()))
    root.mkdir(parents=True, exist_ok=True)
    # Build beside the final place and rename: a concurrent or crashed build never leaves a half venv.
    tmp_env = Path(tempfile.mkdtemp(prefix=f".{slug}-{key}-", dir=root))
    scratch = Path(tempfile.mkdtemp(prefix="tracemill-envsrc-"))
    try:
        subprocess.run([base_python, "-m", "venv", str(tmp_env / "venv")], check=True, capture_output=True)
        src = scratch / "src"
        shutil.copytree(tree, src, symlinks=True, ignore=shutil.ignore_patterns(".git"))
        pip_cache = Path(root).parent / "pip"
        pip_cache.mkdir(parents=True, exist_ok=True)
        commands = _install_commands(plan)
        for argv in commands:
            venv_python = str(tmp_env / "venv" / "bin" / "python")
            rc, out = _run_with_network([venv_python, *argv[1:], "--cache-dir", str(pip_cache)], src,
                                        (str(tmp_env), str(pip_cache)), install_timeout_s)
            if rc != 0:
                raise InfraError(f"{' '.join(argv)} failed (exit {rc}): {out.strip()[-800:]}",
                                 reason="env_install_failed")
        spec = EnvSpec(
            repo=repo, key=key, env_dir=str(env_dir), python=str(env_dir / "venv" / "bin" / "python"),
            python_version=version, dependency_hash=dep_hash, install_method=plan.method,
            install_commands=[" ".join(c) for c in commands],
            test_command=test_command(list(plan.test_paths)),
            test_paths=list(plan.test_paths), python_paths=list(plan.python_paths), extras=list(plan.extras),
        )
        (tmp_env / "spec.json").write_text(json.dumps(spec.to_json(), indent=2, sort_keys=True))
        try:
            os.rename(tmp_env, env_dir)
        except OSError:
            if not spec_path.is_file():  # lost a race to an identical build: use the winner's
                raise
        return spec
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        if tmp_env.exists():
            shutil.rmtree(tmp_env, ignore_errors=True)


def check_clean_run(spec: EnvSpec, tree: Path, *, min_pass_ratio: float = 0.9,
                    limits: SandboxLimits = CLEAN_LIMITS) -> dict:
    """Run the full suite once on the clean tree; raises ConfigError when it does not mostly pass."""
    run = spec.run_tests(Path(tree), limits=limits)
    summary = summarize(run)
    if run.infra_failure_reason:
        raise InfraError(f"clean test run failed to report: {run.infra_failure_reason}: "
                         f"{(run.stdout + run.stderr)[-600:]}", reason="clean_run_infra")
    if summary["pass_ratio"] < min_pass_ratio or summary["passed"] == 0:
        raise ConfigError(f"repository rejected: clean suite pass ratio {summary['pass_ratio']} "
                          f"({summary['passed']} of {summary['total']} passed) is below {min_pass_ratio}")
    return summary


def record_clean_run(spec: EnvSpec, summary: dict) -> None:
    spec.clean_run = summary
    Path(spec.env_dir, "spec.json").write_text(json.dumps(spec.to_json(), indent=2, sort_keys=True))
