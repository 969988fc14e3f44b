"""Rollout generation throughput: rollouts/min and sandbox steps/s against the loopback OpenAI server.

The scripted policy test double answers instantly, so the figures measure tracemill's own cost per
rollout: working-copy setup, sandboxed actions (bubblewrap start + command), hidden-test grading,
HTTP round trips and the fsync'd append, i.e. the ceiling a fast inference server would leave us.

Side by side on the same tasks and behaviours (the double's default mix: solve, fail, loop, recover,
malformed, flaky, give_up):
- baseline: one rollout at a time (`concurrency=1`), as a naive sequential agent runner would do;
- candidate: the default bounded concurrency (8 rollouts in flight, sandbox slots = CPU count).

`run(size)` returns medians over repeats (quick: k=2, 1 repeat; full: k=8, 3 repeats) on the 4 sample
tasks; `python -m benchmarks.bench_rollouts [quick|full]` prints them.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

from tracemill.agent.client import ClientSettings
from tracemill.agent.generate import GenerateSettings, generate
from tracemill.agent.loop import AgentLimits
from tracemill.sample import data_path
from tracemill.testing.openai_server import OpenAITestServer, ScriptedPolicyTestDouble
from tracemill.verify import grading

SIZES = {"smoke": {"k": 1, "repeats": 1}, "quick": {"k": 2, "repeats": 1}, "full": {"k": 8, "repeats": 3}}
LIMITS = AgentLimits(max_turns=10, step_timeout_s=30, rollout_timeout_s=120)


def _tasks() -> list[dict]:
    out = []
    for line in data_path("tasks.jsonl").read_text().splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return out


def _once(k: int, concurrency: int) -> dict:
    grading._CACHE.clear()  # every run grades its own patches: no warm cache across runs
    with tempfile.TemporaryDirectory(prefix="bench-rollouts-") as tmp, \
            OpenAITestServer(ScriptedPolicyTestDouble(_tasks())) as server:
        settings = GenerateSettings(k=k, concurrency=concurrency, agent=LIMITS, grading_timeout_s=30)
        client = ClientSettings(base_url=server.base_url, model="scripted-policy", backoff_base_s=0.01)
        result = generate(settings, client, Path(tmp) / "out")
    info, counts = result["run_info"], result["manifest"]["counts"]["rollouts"]
    assert counts["dead_lettered"] == 0 and counts["written"] == counts["planned"], counts
    return {"seconds": info["seconds"], "rollouts": info["rollouts_written"], "turns": info["turns"],
            "sandbox_steps": info["sandbox_steps"], "rollouts_per_min": info["rollouts_per_min"],
            "sandbox_steps_per_s": info["sandbox_steps_per_s"],
            "ms_per_sandbox_step": round(info["sandbox_seconds"] / max(info["sandbox_steps"], 1) * 1e3, 1),
            "grading_seconds": info["grading_seconds"], "retries": info["client"]["retries"],
            "by_reason": result["manifest"]["counts"]["rollouts"]["by_reason"]}


def _median(runs: list[dict], key: str) -> float:
    return round(statistics.median(r[key] for r in runs), 3)


def run(size: str) -> dict:
    """Benchmark entry point for benchmarks/run.py; `size` is "smoke", "quick" or "full"."""
    if size not in SIZES:
        raise ValueError(f"size must be one of {sorted(SIZES)}")
    cfg = SIZES[size]
    base = [_once(cfg["k"], 1) for _ in range(cfg["repeats"])]
    cand = [_once(cfg["k"], GenerateSettings().concurrency) for _ in range(cfg["repeats"])]
    keys = ("rollouts_per_min", "sandbox_steps_per_s", "ms_per_sandbox_step", "seconds")
    medians = {f"{name}.{key}": _median(runs, key) for name, runs in (("concurrent", cand), ("sequential", base))
               for key in keys}
    return {
        "name": "rollouts",
        "size": size,
        "k": cfg["k"],
        "tasks": 4,
        "repeats": cfg["repeats"],
        "cpu_count": os.cpu_count(),
        "python": sys.version.split()[0],
        "medians": medians,
        "ratios": {"concurrent_vs_sequential_rollouts_per_min_x":
                   round(medians["concurrent.rollouts_per_min"] / medians["sequential.rollouts_per_min"], 2),
                   "concurrent_vs_sequential_sandbox_steps_per_s_x":
                   round(medians["concurrent.sandbox_steps_per_s"] / medians["sequential.sandbox_steps_per_s"], 2)},
        "runs": {"sequential": base, "concurrent": cand},
    }


if __name__ == "__main__":
    print(json.dumps(run(sys.argv[1] if len(sys.argv) > 1 else "quick"), indent=2))
