"""Rollout generation: k samples per task through an OpenAI-compatible server, graded by hidden tests.

read tasks -> validate -> plan (instance_id, sample_index) -> skip what DIR already holds -> run the
agent loop concurrently (asyncio, bounded) -> grade each submitted patch with FAIL_TO_PASS/PASS_TO_PASS
-> append one `trajectory` line per finished rollout (fsync'd) -> compact, rejections, manifest.

Resumable by construction: `DIR/trajectories.jsonl` is append-only while the run is live and every
line is a finished, graded rollout keyed by (instance_id, sample_index); a restarted run reads the
keys back and generates only the missing ones. A torn last line (a crash mid-write) is cut off.
Infrastructure failures (the sandbox did not start, the server kept failing after retries, grading
infra) are dead-lettered to `DIR/rejections.jsonl` and retried by the next run; they are never
graded as negatives. When the run ends the trajectory file is rewritten sorted by key, so a
deterministic policy whose commands print deterministic output gives byte-identical files.

Rewards and reasons follow CWM's rule and `tracemill.sampling`: +1 when every hidden test passes,
-1 otherwise, with reason resolved | fail | timeout | patch_failed (from the test run) or, for a
rollout with nothing to grade, timeout | format_error | no_patch (from its exit status).
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import dataclasses
import json
import logging
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import schemas
from tracemill import __version__
from tracemill.agent.client import ClientSettings, PolicyClient
from tracemill.agent.loop import AgentLimits, Episode, Sampling, Workspace, run_episode
from tracemill.agent.tools import TOOLS
from tracemill.errors import ConfigError, InfraError, RecordError
from tracemill.manifest import pass_at_k_by_task, sha256_of
from tracemill.readers import iter_lines, resolve_input
from tracemill.records import (
    ORIGIN,
    Rejection,
    dead_letter_record,
    rejection_record,
    stable_hash,
    strip_origin,
)
from tracemill.sample import SAMPLE_REF, resolve_repo_ref
from tracemill.sampling import REASON_BY_OUTCOME, reason_without_test_run
from tracemill.sandbox import SandboxLimits
from tracemill.validate import validator
from tracemill.verify.grading import GradeSettings, grade

log = logging.getLogger("tracemill.progress")

AGENT_NAME = "tracemill-bash-agent"
SOURCE_FORMAT = "tracemill-generate"
TRAJECTORIES = "trajectories.jsonl"
REJECTIONS = "rejections.jsonl"
MANIFEST = "manifest.json"
RUN_INFO = "run_info.json"
OWNED = (TRAJECTORIES, REJECTIONS, MANIFEST, RUN_INFO)


@dataclass(frozen=True)
class GenerateSettings:
    tasks: tuple[str, ...] = ("@sample/tasks.jsonl",)
    k: int = 1
    temperature: float | None = 1.0
    top_p: float | None = None
    seed: int = 0
    concurrency: int = 8  # rollouts in flight (each mostly waits on the server)
    sandbox_slots: int = 0  # sandboxed processes at once; 0 = CPU count
    instance_ids: tuple[str, ...] = ()  # only these tasks (all when empty)
    repos: dict[str, str] = field(default_factory=lambda: {"tracemill/textkit": SAMPLE_REF})
    agent: AgentLimits = field(default_factory=AgentLimits)
    grading_timeout_s: float = 60.0
    grading_retries: int = 2
    python: str | None = None  # interpreter for grading (pytest + the repo's deps); None = this one
    rewards: tuple[float, float] = (1.0, -1.0)

    def validate(self) -> GenerateSettings:
        if self.k < 1:
            raise ConfigError(f"-k must be >= 1, got {self.k}")
        if self.concurrency < 1 or self.sandbox_slots < 0:
            raise ConfigError(f"--concurrency must be >= 1 and --sandbox-slots >= 0, got {self.concurrency} "
                              f"and {self.sandbox_slots}")
        if self.temperature is not None and self.temperature < 0:
            raise ConfigError(f"--temperature must be >= 0, got {self.temperature}")
        a = self.agent
        if min(a.max_turns, a.max_tokens, a.observation_chars, a.max_format_errors) < 1:
            raise ConfigError("agent limits (turns, tokens, observation budget, format errors) must be >= 1")
        if min(a.step_timeout_s, a.rollout_timeout_s, self.grading_timeout_s) <= 0:
            raise ConfigError("timeouts must be > 0")
        return self


def settings_dict(settings: GenerateSettings, client: ClientSettings) -> dict:
    """The resolved configuration for the manifest; the API key never leaves the process and the endpoint
    (where the same model happened to be served) goes to run_info.json, so the config hash names the work."""
    cfg = dataclasses.asdict(settings)
    cfg["client"] = {k: v for k, v in dataclasses.asdict(client).items() if k not in ("api_key", "base_url")}
    return json.loads(json.dumps(cfg, sort_keys=True))


def sample_seed(seed: int, instance_id: str, sample_index: int) -> int:
    """The per-sample `seed` sent to the server: reproducible samples on servers that honour it."""
    return int(stable_hash(seed, instance_id, sample_index)[:8], 16)


def traj_id_for(model: str, instance_id: str, sample_index: int, seed: int) -> str:
    return f"gen-{stable_hash(model, instance_id, sample_index, seed)[:20]}"


# -- tasks ---------------------------------------------------------------------------------------

@dataclass
class TaskSet:
    tasks: list[dict]  # valid, unique, selected; each tagged with its origin
    rejections: list[dict]  # task lines that will not be sampled, one per line
    inputs: list[dict]  # manifest `inputs`
    counts: collections.Counter  # task-level dispositions


def load_tasks(paths: tuple[str, ...], instance_ids: tuple[str, ...] = ()) -> TaskSet:
    """Read task JSONL files: every line is either a task to sample or one rejection."""
    check = validator("task")
    tasks, rejections, inputs = [], [], []
    counts: collections.Counter = collections.Counter()
    seen: dict[str, str] = {}
    wanted = set(instance_ids)
    for path in paths:
        n = 0
        for line_no, text in iter_lines(path):
            n += 1
            stub = {ORIGIN: {"kind": "task", "source": path, "line": line_no}}
            try:
                value = json.loads(text)
                if not isinstance(value, dict):
                    raise RecordError(f"{path}:{line_no}: expected a JSON object", path="$", reason="malformed_json")
                value[ORIGIN] = stub[ORIGIN]
                check(value)
            except json.JSONDecodeError as exc:
                err = RecordError(f"{path}:{line_no}: invalid JSON: {exc.msg}", path="$", reason="malformed_json")
                rejections.append(dead_letter_record(stub, "parse_task", err))
                counts["dead_lettered"] += 1
                continue
            except RecordError as exc:
                rec = value if isinstance(value, dict) else stub
                rejections.append(dead_letter_record({**rec, ORIGIN: stub[ORIGIN]}, "validate_task", exc))
                counts["dead_lettered"] += 1
                continue
            iid = value["instance_id"]
            if iid in seen:
                rej = Rejection("duplicate_instance_id", duplicate_of=iid, disposition="deduplicated",
                                detail=f"first seen at {seen[iid]}")
                rejections.append(rejection_record(value, "dedup_tasks", rej))
                counts["deduplicated"] += 1
                continue
            seen[iid] = f"{path}:{line_no}"
            if wanted and iid not in wanted:
                rejections.append(rejection_record(value, "select_tasks", Rejection("not_selected")))
                counts["filtered"] += 1
                continue
            tasks.append(value)
            counts["emitted"] += 1
        digest, _ = sha256_of(resolve_input(path))
        inputs.append({"path": path, "kind": "task", "sha256": digest, "records": n})
    missing = sorted(wanted - set(seen))
    if missing:
        raise ConfigError(f"--instance-id not found in the tasks: {', '.join(missing)}")
    return TaskSet(tasks, rejections, inputs, counts)


# -- the append-only store -----------------------------------------------------------------------

class TrajectoryStore:
    """DIR/trajectories.jsonl: one fsync'd line per finished rollout; reads back what is done."""

    def __init__(self, path: Path):
        self.path = path
        self.done: dict[tuple[str, int], dict] = {}
        self._lock = asyncio.Lock()

    def load(self) -> int:
        """Read finished rollouts; cut off a torn last line. Returns how many were found."""
        if not self.path.exists():
            return 0
        data = self.path.read_bytes()
        good = data.rfind(b"\n") + 1
        if good < len(data):  # a crash mid-write: the partial line is not a finished rollout
            with open(self.path, "r+b") as fh:
                fh.truncate(good)
                os.fsync(fh.fileno())
        for number, line in enumerate(data[:good].decode("utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
                key = (rec["instance_id"], int(rec["sample_index"]))
            except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
                raise ConfigError(f"{self.path}:{number} is not a generated trajectory ({exc}); "
                                  f"use another --out or --fresh") from exc
            self.done[key] = rec
        return len(self.done)

    async def append(self, record: dict) -> None:
        line = (json.dumps(record, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")
        async with self._lock:  # one writer at a time keeps lines whole
            await asyncio.to_thread(self._write, line)
            self.done[(record["instance_id"], record["sample_index"])] = record

    def _write(self, line: bytes) -> None:
        with open(self.path, "ab") as fh:
            fh.write(line)
            fh.flush()
            os.fsync(fh.fileno())

    def compact(self) -> None:
        """Rewrite sorted by (instance_id, sample_index), atomically."""
        records = [self.done[k] for k in sorted(self.done)]
        write_atomic(self.path, "".join(json.dumps(r, sort_keys=True, ensure_ascii=False) + "\n" for r in records))


def write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


# -- one rollout ---------------------------------------------------------------------------------

def grade_settings(settings: GenerateSettings) -> GradeSettings:
    return GradeSettings(SandboxLimits(timeout_s=settings.grading_timeout_s, memory_mb=settings.agent.memory_mb),
                         infra_retries=settings.grading_retries, python=settings.python)


def outcome(ep: Episode, test_run: dict | None, rewards: tuple[float, float]) -> tuple[bool, float, str]:
    """(resolved, reward, reason) of a finished rollout."""
    if test_run is None:
        return False, rewards[1], reason_without_test_run(ep.exit_status)
    resolved = bool(test_run["resolved"])
    return resolved, rewards[0] if resolved else rewards[1], REASON_BY_OUTCOME[test_run["outcome"]]


def trajectory_record(task: dict, sample_index: int, ep: Episode, test_run: dict | None, model: str,
                      settings: GenerateSettings) -> dict:
    resolved, reward, reason = outcome(ep, test_run, settings.rewards)
    versions = ep.policy_versions
    diff = ep.diff if ep.diff.strip() else ""
    return {
        "traj_id": traj_id_for(model, task["instance_id"], sample_index, settings.seed),
        "instance_id": task["instance_id"],
        "agent": AGENT_NAME,
        "model": model,
        "messages": ep.messages,
        "tools": TOOLS,
        "patch": diff if ep.exit_status == "submitted" else None,
        "exit_status": ep.exit_status,
        "policy_version_begin": versions[0] if versions else None,
        "policy_version_end": versions[-1] if versions else None,
        "source_format": SOURCE_FORMAT,
        "resolved": resolved,
        "reward": reward,
        "sample_index": sample_index,
        "metadata": {
            "reason": reason,
            "exit_detail": ep.detail,
            "temperature": settings.temperature,
            "top_p": settings.top_p,
            "seed": sample_seed(settings.seed, task["instance_id"], sample_index),
            "turns": ep.turns,
            "format_errors": ep.format_errors,
            "tool_errors": ep.tool_errors,
            "context_tokens": ep.context_tokens,
            "completion_tokens": ep.completion_tokens,
            "policy_versions": sorted({v for v in versions if v is not None}),
            # Work left unsubmitted is kept for audits, never graded: the agent did not claim it.
            "unsubmitted_patch": diff if ep.exit_status != "submitted" and diff else None,
            "test_run": None if test_run is None else {
                "run_id": test_run["run_id"], "outcome": test_run["outcome"],
                "FAIL_TO_PASS": test_run["fail_to_pass"], "PASS_TO_PASS": test_run["pass_to_pass"]},
        },
    }


@dataclass
class RunStats:
    rollouts: int = 0
    dead: int = 0
    turns: int = 0
    sandbox_steps: int = 0
    sandbox_seconds: float = 0.0
    model_seconds: float = 0.0
    grading_seconds: float = 0.0


class Generator:
    """Plans and runs the rollouts of one output folder."""

    def __init__(self, settings: GenerateSettings, client: PolicyClient, out_dir: Path, *, quiet: bool = True):
        self.settings = settings.validate()
        self.client = client
        self.out = out_dir
        self.quiet = quiet
        self.store = TrajectoryStore(out_dir / TRAJECTORIES)
        self.dead: dict[tuple[str, int], dict] = {}
        self.stats = RunStats()
        self._repos: dict[str, str] = {}

    def repo_for(self, task: dict) -> str:
        name = task["repo"]
        if name not in self._repos:
            if name not in self.settings.repos:
                raise ConfigError(f"no local repository for {name!r}; pass --repo {name}=PATH")
            self._repos[name] = str(resolve_repo_ref(self.settings.repos[name]))
        return self._repos[name]

    def _say(self, text: str) -> None:
        if not self.quiet:
            print(text, flush=True, file=sys.stderr)

    async def rollout(self, task: dict, sample_index: int, slots: asyncio.Semaphore, sandbox: asyncio.Semaphore,
                      progress: list[int]) -> None:
        s = self.settings
        key = (task["instance_id"], sample_index)
        model = self.client.settings.model
        tid = traj_id_for(model, task["instance_id"], sample_index, s.seed)
        stage = "generate"
        async with slots:
            try:
                repo = self.repo_for(task)
                async with sandbox:
                    ws = await asyncio.to_thread(Workspace.create, repo, task["base_commit"], s.agent)
                try:
                    ep = await run_episode(
                        task, self.client, ws, s.agent,
                        Sampling(s.temperature, s.top_p, sample_seed(s.seed, *key)),
                        rollout_id=f"{task['instance_id']}/{sample_index}", sandbox_slots=sandbox)
                finally:
                    await asyncio.to_thread(ws.close)
                test_run = None
                if ep.patch and ep.patch.strip():
                    stage = "grade"
                    started = time.monotonic()
                    async with sandbox:
                        test_run = await asyncio.to_thread(grade, task, ep.patch, repo, grade_settings(s), tid)
                    self.stats.grading_seconds += time.monotonic() - started
                stage = "validate_trajectory"
                record = trajectory_record(strip_origin(task), sample_index, ep, test_run, model, s)
                errs = schemas.errors("trajectory", record, limit=1)
                if errs:
                    raise RecordError(f"trajectory schema: {errs[0][0]}: {errs[0][1]}", path=errs[0][0],
                                      reason="schema_invalid")
                await self.store.append(record)
            except (InfraError, RecordError) as exc:
                self._dead(task, sample_index, tid, stage, exc)
                return
            except ConfigError:
                raise
            except Exception as exc:  # a bug must not sink the other rollouts; it is counted and shown
                log.exception("rollout %s#%d failed", *key)
                self._dead(task, sample_index, tid, stage, exc)
                return
        self.stats.rollouts += 1
        self.stats.turns += ep.turns
        self.stats.sandbox_steps += ep.sandbox_steps
        self.stats.sandbox_seconds += ep.sandbox_seconds
        self.stats.model_seconds += ep.model_seconds
        progress[0] += 1
        meta = record["metadata"]
        self._say(f"[{progress[0]}/{progress[1]}] {key[0]}#{key[1]} {ep.exit_status} -> {meta['reason']} "
                  f"({ep.turns} turns, policy {record['policy_version_begin']}..{record['policy_version_end']})")

    def _dead(self, task: dict, sample_index: int, tid: str, stage: str, exc: BaseException) -> None:
        rec = dead_letter_record({"traj_id": tid, ORIGIN: {**task[ORIGIN], "kind": "rollout"}}, stage, exc)
        rec["detail"] = f"instance_id={task['instance_id']} sample_index={sample_index}"
        self.dead[(task["instance_id"], sample_index)] = rec
        self.stats.dead += 1
        self._say(f"[dead] {task['instance_id']}#{sample_index} at {stage}: {rec['reason']}: {str(exc)[:200]}")

    async def run(self, taskset: TaskSet) -> dict:
        s = self.settings
        resumed = self.store.load()
        model = self.client.settings.model
        foreign = sorted({r["model"] for r in self.store.done.values()} - {model})
        if foreign:
            raise ConfigError(f"{self.out} holds rollouts of model {foreign[0]!r}, not {model!r}; "
                              f"use another --out or --fresh")
        for task in taskset.tasks:
            self.repo_for(task)  # fail fast on an unknown repository, before any token is spent
        await self.client.check_model()
        plan = [(t, i) for t in taskset.tasks for i in range(s.k) if (t["instance_id"], i) not in self.store.done]
        self._say(f"{len(taskset.tasks)} tasks x k={s.k}: {resumed} rollouts already in {self.out}, "
                  f"{len(plan)} to generate")
        slots = asyncio.Semaphore(s.concurrency)
        sandbox = asyncio.Semaphore(s.sandbox_slots or os.cpu_count() or 1)
        loop = asyncio.get_running_loop()
        loop.set_default_executor(concurrent.futures.ThreadPoolExecutor(max_workers=s.concurrency + 4))
        started = time.monotonic()
        progress = [0, len(plan)]
        await asyncio.gather(*(self.rollout(t, i, slots, sandbox, progress) for t, i in plan))
        seconds = time.monotonic() - started
        self.store.compact()
        return self.finish(taskset, resumed, len(plan), seconds)

    def finish(self, taskset: TaskSet, resumed: int, attempted: int, seconds: float) -> dict:
        s = self.settings
        wanted = {(t["instance_id"], i) for t in taskset.tasks for i in range(s.k)}
        dead = [self.dead[k] for k in sorted(self.dead) if k not in self.store.done]
        rejections = sorted(taskset.rejections + dead,
                            key=lambda r: (r["record_kind"], r["record_id"], r["stage"]))
        write_atomic(self.out / REJECTIONS, "".join(json.dumps(r, sort_keys=True) + "\n" for r in rejections))
        trajectories = [self.store.done[k] for k in sorted(self.store.done)]
        manifest = build_manifest(s, self.client.settings, taskset, trajectories, dead, wanted, self.out)
        write_atomic(self.out / MANIFEST, json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        st = self.stats
        run_info = {
            "seconds": round(seconds, 3),
            "rollouts_resumed": resumed,
            "rollouts_attempted": attempted,
            "rollouts_written": st.rollouts,
            "rollouts_dead_lettered": st.dead,
            "rollouts_per_min": round(st.rollouts / seconds * 60, 3) if seconds else None,
            "turns": st.turns,
            "sandbox_steps": st.sandbox_steps,
            "sandbox_steps_per_s": round(st.sandbox_steps / seconds, 3) if seconds else None,
            "sandbox_seconds": round(st.sandbox_seconds, 3),
            "model_seconds": round(st.model_seconds, 3),
            "grading_seconds": round(st.grading_seconds, 3),
            "endpoint": self.client.settings.base_url,
            "client": dataclasses.asdict(self.client.stats),
        }
        write_atomic(self.out / RUN_INFO, json.dumps(run_info, indent=2, sort_keys=True) + "\n")
        return {"manifest": manifest, "run_info": run_info}


def build_manifest(settings: GenerateSettings, client: ClientSettings, taskset: TaskSet, trajectories: list[dict],
                   dead: list[dict], wanted: set, out: Path) -> dict:
    """Counts per task line and per planned rollout; pass@k, acceptance and policy versions; outputs."""
    tc = taskset.counts
    total = {"input": sum(i["records"] for i in taskset.inputs),
             **{d: tc.get(d, 0) for d in ("emitted", "filtered", "deduplicated", "dead_lettered")}}
    written = [t for t in trajectories if (t["instance_id"], t["sample_index"]) in wanted]
    rollouts = {
        "planned": len(wanted),
        "written": len(written),
        "dead_lettered": len(dead),
        "by_exit_status": dict(sorted(collections.Counter(t["exit_status"] for t in written).items())),
        "by_reason": dict(sorted(collections.Counter(t["metadata"]["reason"] for t in written).items())),
        "dead_by_reason": dict(sorted(collections.Counter(d["reason"] for d in dead).items())),
        # rollouts DIR holds from an earlier run with a larger -k or more tasks: kept, not counted above
        "outside_plan": len(trajectories) - len(written),
    }
    by_stage = collections.Counter((r["record_kind"], r["stage"], r["disposition"], r["reason"])
                                   for r in taskset.rejections + dead)
    by_model = collections.defaultdict(lambda: [0, 0])
    for t in written:
        by_model[t["model"]][0] += 1
        by_model[t["model"]][1] += bool(t["resolved"])
    steps_by_version = collections.Counter(m.get("policy_version") for t in written for m in t["messages"]
                                           if m["role"] == "assistant")
    config = settings_dict(settings, client)
    manifest = {
        "pipeline": "rollouts-generate",
        "tracemill_version": __version__,
        "config": config,
        "config_hash": stable_hash(config),
        "seed": settings.seed,
        "inputs": taskset.inputs,
        "counts": {
            "total": total,
            "reconciled": (total["input"] == sum(total[d] for d in ("emitted", "filtered", "deduplicated",
                                                                    "dead_lettered"))
                           and rollouts["planned"] == rollouts["written"] + rollouts["dead_lettered"]),
            "by_kind": {"task": {d: total[d] for d in ("emitted", "filtered", "deduplicated", "dead_lettered")},
                        "rollout": {"emitted": rollouts["written"], "filtered": 0, "deduplicated": 0,
                                    "dead_lettered": rollouts["dead_lettered"]}},
            "by_stage": [{"record_kind": k, "stage": st, "disposition": d, "reason": r, "count": n}
                         for (k, st, d, r), n in sorted(by_stage.items())],
            "rollouts": rollouts,
        },
        "metrics": {
            "pass_at_k": pass_at_k_by_task(written),
            "acceptance_by_model": [{"model": m, "graded": n, "accepted": a, "rate": round(a / n, 6) if n else 0.0}
                                    for m, (n, a) in sorted(by_model.items())],
            "policy_versions": {"steps_by_version": {str(k): v for k, v in sorted(steps_by_version.items(),
                                                                                   key=lambda kv: str(kv[0]))},
                                "rollouts_spanning_versions": sum(
                                    1 for t in written if t["policy_version_begin"] != t["policy_version_end"])},
        },
        "outputs": [],
    }
    for name in (TRAJECTORIES, REJECTIONS):
        path = out / name
        digest, size = sha256_of(str(path))
        rows = sum(1 for line in path.read_text(encoding="utf-8").splitlines() if line.strip())
        manifest["outputs"].append({"path": name, "sha256": digest, "rows": rows, "bytes": size})
    errs = schemas.errors("manifest", manifest)
    if errs:
        raise AssertionError(f"manifest violates its schema: {errs}")
    return manifest


def prepare_out(out: Path, fresh: bool) -> None:
    """Create DIR; keep its rollouts (resume) unless `fresh`; refuse a folder that is not ours."""
    if out.exists() and any(out.iterdir()) and not any((out / n).exists() for n in OWNED):
        raise ConfigError(f"output folder {out} is not empty and holds no rollouts; choose another --out")
    out.mkdir(parents=True, exist_ok=True)
    if fresh:
        for name in OWNED:
            (out / name).unlink(missing_ok=True)


async def generate_async(settings: GenerateSettings, client_settings: ClientSettings, out_dir: str | Path, *,
                         fresh: bool = False, quiet: bool = True) -> dict:
    out = Path(out_dir)
    settings.validate()
    taskset = load_tasks(settings.tasks, settings.instance_ids)
    prepare_out(out, fresh)
    client = PolicyClient(client_settings)
    try:
        return await Generator(settings, client, out, quiet=quiet).run(taskset)
    finally:
        await client.close()


def generate(settings: GenerateSettings, client_settings: ClientSettings, out_dir: str | Path, *,
             fresh: bool = False, quiet: bool = True) -> dict:
    """Run (or resume) a generation into `out_dir`; returns {manifest, run_info}."""
    return asyncio.run(generate_async(settings, client_settings, out_dir, fresh=fresh, quiet=quiet))
