"""Composites of the rollout path: join each rollout to its task, grade it in the sandbox, and turn
the result into a graded trajectory, an RL example and (when resolved) an SFT example."""

from __future__ import annotations

import logging

import apache_beam as beam

from tracemill import sample
from tracemill.beam.stage import Stage
from tracemill.config import GradingConfig, SamplingConfig
from tracemill.errors import ConfigError
from tracemill.records import Rejection
from tracemill.sampling import examples
from tracemill.sandbox import SandboxLimits
from tracemill.verify.grading import GradeSettings, grade

progress = logging.getLogger("tracemill.progress")


def require_known_task(traj: dict, tasks: dict, contaminated: dict | None = None) -> dict | Rejection:
    if contaminated and traj["instance_id"] in contaminated:
        return Rejection("task_contaminated", duplicate_of=contaminated[traj["instance_id"]],
                         detail="its task overlaps an evaluation set")
    if traj["instance_id"] not in tasks:
        return Rejection("unknown_task", detail=f"no task with instance_id {traj['instance_id']!r}")
    return traj


class _Grader:
    """Picklable grading function; resolves repositories lazily on the worker."""

    def __init__(self, grading: GradingConfig, sampling: SamplingConfig, repos: dict[str, str]):
        self.settings = GradeSettings(SandboxLimits(timeout_s=grading.timeout_s, memory_mb=grading.memory_mb),
                                      infra_retries=grading.infra_retries, python=grading.python)
        self.rewards = (sampling.reward_resolved, sampling.reward_unresolved)
        self.repos = dict(repos)
        self._resolved: dict[str, str] = {}

    def _repo(self, name: str) -> str:
        if name not in self._resolved:
            if name not in self.repos:
                raise ConfigError(f"no local path configured for repo {name!r} (inputs.repos)")
            self._resolved[name] = str(sample.resolve_repo_ref(self.repos[name]))
        return self._resolved[name]

    def __call__(self, traj: dict, tasks: dict) -> dict:
        task = tasks[traj["instance_id"]]
        run = None
        if traj.get("patch") and traj["patch"].strip():
            run = grade(task, traj["patch"], self._repo(task["repo"]), self.settings, traj_id=traj["traj_id"])
        graded, sft, rl = examples(traj, task, run, self.rewards)
        progress.info("graded %s on %s: %s", traj["traj_id"], traj["instance_id"], rl["reason"])
        return {"trajectory": graded, "sft": sft, "rl": rl, "test_run": run}


class GradeRollouts(beam.PTransform):
    """Rollouts -> {trajectory, sft, rl, test_run} bundles (kept), unknown tasks (rejected), infra (dead)."""

    def __init__(self, tasks, grading: GradingConfig, sampling: SamplingConfig, repos: dict[str, str],
                 contaminated=None):
        super().__init__()
        self.tasks, self.grader, self.contaminated = tasks, _Grader(grading, sampling, repos), contaminated
        self.concurrency = grading.concurrency

    def expand(self, rollouts):
        side = {"tasks": self.tasks}
        if self.contaminated is not None:
            side["contaminated"] = self.contaminated
        known = rollouts | "JoinTasks" >> Stage("join_tasks", require_known_task, **side)
        # Spread sandbox work over workers before the expensive step.
        graded = (known.kept
                  | "SpreadGrading" >> beam.Reshuffle()
                  | "Grade" >> Stage("grade", self.grader, concurrency=self.concurrency, tasks=self.tasks))
        return {"kept": graded.kept,
                "rejected": (known.rejected, graded.rejected) | "Rejected" >> beam.Flatten(),
                "dead": (known.dead, graded.dead) | "Dead" >> beam.Flatten()}
