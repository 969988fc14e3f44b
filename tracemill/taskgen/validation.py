"""Validators: candidate dict -> task dict | Rejection, by running the candidate's tests in the sandbox.

`PrValidator` runs base + test_patch ("before") and base + test_patch + patch ("after") `repeats`
times each. `MutantScreen` runs only the tests that execute the mutated lines on the buggy tree
(from the coverage map); `MutantConfirm` runs the full suite once on the buggy tree and derives the
final lists against the clean baseline (run `repeats` times once per repository). Infrastructure
failures raise InfraError (retried, then dead-lettered); they never reject a candidate.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

from tracemill.envs import EnvSpec, ensure_env
from tracemill.errors import InfraError
from tracemill.records import ORIGIN, Rejection
from tracemill.sandbox import ExecStatus, SandboxLimits
from tracemill.taskgen.covmap import tests_for_lines
from tracemill.taskgen.outcomes import Derived, derive, stable
from tracemill.taskgen.statements import statement_from_failures
from tracemill.verify import workspace
from tracemill.verify.patches import is_test_path, touched_files
from tracemill.verify.pytest_runner import PytestRun

RUN_ARGS = ("--continue-on-collection-errors",)


@dataclass(frozen=True)
class ValidationSettings:
    repeats: int = 3
    timeout_s: float = 300.0
    memory_mb: int = 4096
    min_pass_ratio: float = 0.9

    @property
    def limits(self) -> SandboxLimits:
        return SandboxLimits(timeout_s=self.timeout_s, memory_mb=self.memory_mb)


def checked(run: PytestRun, what: str) -> PytestRun | None:
    """The run, None on timeout; InfraError when the sandbox or the report failed."""
    if run.infra_failure_reason:
        raise InfraError(f"{what}: {run.infra_failure_reason}: {(run.stdout + run.stderr)[-400:]}",
                         reason="test_run_infra")
    if run.exec_status == ExecStatus.TIMEOUT:
        return None
    return run


def _messages(run: PytestRun) -> dict[str, str]:
    return {t.nodeid: t.message or "" for t in run.tests}


def _function_level(nodeids: list[str]) -> list[str]:
    # Parametrized ids can hold characters the command line mangles; run the whole function.
    return sorted({n.split("[", 1)[0] for n in nodeids})


def _scratch(prefix: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=prefix))


@dataclass
class Baseline:
    """The clean tree's suite, run `repeats` times: the "after" side of every mutant."""

    runs: list[dict[str, str]]
    flaky: list[str]
    passing: list[str]
    durations: list[float] = field(default_factory=list)


def run_baseline(spec: EnvSpec, tree: Path, settings: ValidationSettings) -> Baseline:
    runs, durations = [], []
    for i in range(settings.repeats):
        run = checked(spec.run_tests(tree, limits=settings.limits, extra_args=RUN_ARGS), f"baseline run {i}")
        if run is None:
            raise InfraError(f"clean suite exceeded {settings.timeout_s}s", reason="baseline_timeout")
        runs.append(run.status_map())
        durations.append(run.duration_s)
    outcomes, flaky = stable(runs)
    passing = sorted(t for t, o in outcomes.items() if o == "passed")
    return Baseline(runs, sorted(flaky), passing, durations)


def _with_bug(repo_path: str, commit: str, bug_patch: str) -> Path:
    tree = _scratch("tracemill-mut-")
    shutil.copytree(workspace.pristine_tree(repo_path, commit), tree, symlinks=True, dirs_exist_ok=True)
    workspace.apply_patch(tree, bug_patch)
    return tree


@dataclass
class MutantScreen:
    """Cheap check: do the tests that execute the mutated lines notice the bug?"""

    repo_path: str
    base_commit: str
    spec: EnvSpec
    passing: list[str]
    covmap: dict | None  # None: no coverage map, every screen runs the full suite
    settings: ValidationSettings = ValidationSettings()

    def __call__(self, cand: dict) -> dict | Rejection:
        covering = tests_for_lines(self.covmap, cand["path"], cand["lines"]) if self.covmap is not None else None
        passing = set(self.passing)
        if covering is not None:
            covering = [t for t in covering if t in passing]
            if not covering:
                return Rejection("not_covered", signal=0, detail="no passing test executes the mutated lines")
        tree = _with_bug(self.repo_path, self.base_commit, cand["bug_patch"])
        try:
            selection = _function_level(covering) if covering is not None else None
            run = checked(self.spec.run_tests(tree, selection, limits=self.settings.limits, extra_args=RUN_ARGS),
                          "screen run")
        finally:
            shutil.rmtree(tree, ignore_errors=True)
        if run is None:
            return Rejection("test_timeout", limit=self.settings.timeout_s, detail="buggy tree (screen run)")
        statuses = run.status_map()
        wanted = covering if covering is not None else sorted(passing)
        broken = sorted(t for t in wanted if statuses.get(t) != "passed")
        if not broken:
            return Rejection("no_test_broken", signal=float(len(wanted)), limit=1)
        return {**cand, "screen": {"selected": len(wanted), "full_run": covering is None,
                                   "statuses": {t: statuses.get(t, "absent") for t in wanted},
                                   "duration_s": round(run.duration_s, 3)}}


@dataclass
class MutantConfirm:
    """One full run of the buggy tree; final FAIL_TO_PASS / PASS_TO_PASS against the clean baseline."""

    repo_path: str
    base_commit: str
    spec: EnvSpec
    baseline_runs: list[dict[str, str]]
    task_fields: dict
    settings: ValidationSettings = ValidationSettings()

    def __call__(self, cand: dict) -> dict | Rejection:
        tree = _with_bug(self.repo_path, self.base_commit, cand["bug_patch"])
        try:
            run = checked(self.spec.run_tests(tree, limits=self.settings.limits, extra_args=RUN_ARGS),
                          "confirm run")
        finally:
            shutil.rmtree(tree, ignore_errors=True)
        if run is None:
            return Rejection("test_timeout", limit=self.settings.timeout_s, detail="buggy tree (full run)")
        full = run.status_map()
        screened = {t: (s if s != "absent" else None) for t, s in cand["screen"]["statuses"].items()}
        overlay = {**full, **{t: s for t, s in screened.items() if s is not None}}
        d = derive([full, overlay], self.baseline_runs, [_messages(run)])
        if not d.fail_to_pass:
            return Rejection("no_fail_to_pass", signal=0, limit=1)
        if not d.pass_to_pass:
            return Rejection("no_pass_to_pass", signal=0, limit=1, detail="the mutant breaks every test")
        failures = {t.nodeid: t.message or "" for t in run.tests if t.nodeid in set(d.fail_to_pass)}
        return mutant_task(cand, d, failures, self.task_fields, run.command)


def mutant_task(cand: dict, d: Derived, failures: dict[str, str], fields: dict, command: str) -> dict:
    prov = {"operator": cand["operator"], "function": cand["function"], "path": cand["path"],
            "lines": list(cand["lines"]), "mutant_id": cand["mutant_id"], "seed": cand.get("seed"),
            "flaky_tests": d.flaky, "collection_errors": d.collection_errors,
            "screen_selected": cand["screen"]["selected"], "env_key": fields.get("env_key"),
            "source_path": fields.get("source_path")}
    if cand.get("combined_from"):
        prov["combined_from"] = cand["combined_from"]
    return {
        ORIGIN: cand.get(ORIGIN),
        "instance_id": cand["instance_id"],
        "repo": fields["repo"],
        "base_commit": fields["base_commit"],
        "patch": cand["patch"],
        "test_patch": "",
        "bug_patch": cand["bug_patch"],
        "problem_statement": statement_from_failures(d.fail_to_pass, failures),
        "hints_text": None,
        "FAIL_TO_PASS": d.fail_to_pass,
        "PASS_TO_PASS": d.pass_to_pass,
        "created_at": fields["created_at"],
        "version": fields.get("version"),
        "environment_setup_commit": fields["base_commit"],
        "source": "mutation",
        "license": fields.get("license"),
        "test_command": command,
        "flags": ["collection_error"] if any(e["tests_affected"] for e in d.collection_errors) else [],
        "provenance": prov,
    }


_ENV_LOCK = threading.Lock()
_ENVS: dict[tuple[str, str], EnvSpec] = {}


def _test_modules(test_patch: str, tree: Path) -> list[str]:
    out = []
    for rel in touched_files(test_patch):
        name = rel.rsplit("/", 1)[-1]
        if (is_test_path(rel) and rel.endswith(".py") and (name.startswith("test") or name.endswith("_test.py"))
                and (tree / rel).is_file()):
            out.append(rel)
    return sorted(set(out))


@dataclass
class PrValidator:
    """Before (base + test_patch) and after (+ patch), `repeats` runs each, on the touched test modules."""

    repo_path: str
    repo: str
    settings: ValidationSettings = ValidationSettings()
    env_root: str | None = None

    def _env(self, tree: Path, base_commit: str) -> EnvSpec:
        key = (self.repo_path, base_commit)
        with _ENV_LOCK:
            if key not in _ENVS:
                _ENVS[key] = ensure_env(tree, self.repo, root=Path(self.env_root) if self.env_root else None)
            return _ENVS[key]

    def __call__(self, cand: dict) -> dict | Rejection:
        before, after = _scratch("tracemill-before-"), _scratch("tracemill-after-")
        try:
            try:
                workspace.prepare(self.repo_path, cand["base_commit"], None, cand["test_patch"], before)
                workspace.prepare(self.repo_path, cand["base_commit"], cand["patch"], cand["test_patch"], after)
            except workspace.PatchApplyError as exc:
                return Rejection("patch_does_not_apply", detail=str(exc)[:500])
            except InfraError as exc:
                if exc.reason == "test_patch_failed":
                    return Rejection("test_patch_does_not_apply", detail=str(exc)[:500])
                raise
            selection = _test_modules(cand["test_patch"], after)
            if not selection:
                return Rejection("no_runnable_tests", signal=0, detail="the test patch touches no test module")
            spec = self._env(before, cand["base_commit"])
            b_runs, a_runs, b_msgs, durations = [], [], [], []
            for i in range(self.settings.repeats):
                for tree, runs in ((before, b_runs), (after, a_runs)):
                    run = checked(spec.run_tests(tree, selection, limits=self.settings.limits, extra_args=RUN_ARGS),
                                  f"run {i}")
                    if run is None:
                        return Rejection("test_timeout", limit=self.settings.timeout_s)
                    runs.append(run.status_map())
                    durations.append(run.duration_s)
                    if tree is before:
                        b_msgs.append(_messages(run))
                        last_before = run
            d = derive(b_runs, a_runs, b_msgs)
        finally:
            shutil.rmtree(before, ignore_errors=True)
            shutil.rmtree(after, ignore_errors=True)
        if not d.fail_to_pass:
            return Rejection("no_fail_to_pass", signal=0, limit=1,
                             detail=f"flaky: {len(d.flaky)}" if d.flaky else None)
        prov = {**cand.get("provenance", {}), "flaky_tests": d.flaky, "collection_errors": d.collection_errors,
                "env_key": spec.key, "runs_per_side": self.settings.repeats}
        task = {k: v for k, v in cand.items() if k not in ("provenance",)}
        failures = {t.nodeid: t.message or "" for t in last_before.tests}
        return {**task, "FAIL_TO_PASS": d.fail_to_pass, "PASS_TO_PASS": d.pass_to_pass,
                "test_command": last_before.command,
                "flags": sorted({*cand.get("flags", []),
                                 *(["collection_error"] if any(e["tests_affected"] for e in d.collection_errors)
                                   else [])}),
                "hints_text": cand.get("hints_text"),
                "provenance": {**prov, "failure_excerpt": statement_from_failures(
                    d.fail_to_pass, failures, "{n} test(s) fail before the patch:")[:2000]}}
