"""Timing, corpora and report rows shared by the benchmark modules.

Rates are reported two ways: per wall second, and per CPU second of this process (all its
threads) - "per core". The machine is shared, so per-CPU-second rates and ratios measured side by
side (baseline and candidate interleaved, repeat by repeat) are the figures that targets use.
"""

from __future__ import annotations

import functools
import json
import os
import resource
import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from tracemill.dedup.corpus import planted_corpus

RESULTS = Path(__file__).resolve().parent / "results"
SIZES = ("smoke", "quick", "full")  # smoke: seconds, for the harness test


@dataclass
class Measurement:
    name: str
    n: int
    walls: list[float]
    cpus: list[float]

    @property
    def wall_s(self) -> float:
        return statistics.median(self.walls)

    @property
    def cpu_s(self) -> float:
        return statistics.median(self.cpus)

    def as_dict(self) -> dict:
        return {"name": self.name, "n": self.n, "median_wall_s": round(self.wall_s, 4),
                "median_cpu_s": round(self.cpu_s, 4), "per_wall_s": round(self.n / self.wall_s, 1),
                "per_cpu_s": round(self.n / self.cpu_s, 1), "repeats": len(self.walls),
                "walls": [round(w, 4) for w in self.walls], "cpus": [round(c, 4) for c in self.cpus]}


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def timed(fn: Callable[[], object]) -> tuple[object, float, float]:
    wall, cpu = time.perf_counter(), _cpu()
    result = fn()
    return result, time.perf_counter() - wall, _cpu() - cpu


def side_by_side(n: int, repeats: int, **fns: Callable[[], object]) -> dict[str, Measurement]:
    """Run each named function `repeats` times, interleaved, so they share the machine's conditions."""
    out = {name: Measurement(name, n, [], []) for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            _, wall, cpu = timed(fn)
            out[name].walls.append(wall)
            out[name].cpus.append(cpu)
    return out


def row(case: str, unit: str, baseline: Measurement, candidate: Measurement, kind: str,
        target: float | None = None, target_text: str | None = None) -> dict:
    """A report row. kind "cost": ratio = candidate CPU time / baseline CPU time (lower is better);
    kind "speed": ratio = candidate rate / baseline rate; targets apply to that ratio, or for
    kind "rate" to the candidate's rate per CPU second."""
    cost = candidate.cpu_s / baseline.cpu_s
    wall_cost = candidate.wall_s / baseline.wall_s
    if kind == "cost":
        ratio, met = cost, (cost <= target if target is not None else None)
    elif kind in ("speed", "rate"):
        ratio = baseline.cpu_s / candidate.cpu_s * (candidate.n / baseline.n)
        if kind == "rate":
            met = candidate.n / candidate.cpu_s >= target if target is not None else None
        else:
            met = ratio >= target if target is not None else None
    else:
        raise ValueError(kind)
    return {"case": case, "unit": unit, "kind": kind, "baseline": baseline.as_dict(),
            "candidate": candidate.as_dict(), "ratio": round(ratio, 3),
            "wall_ratio": round(wall_cost if kind == "cost" else (baseline.wall_s / candidate.wall_s)
                                * (candidate.n / baseline.n), 3),
            "target": target_text, "met": met}


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@functools.lru_cache(maxsize=4)
def _texts(n: int, seed: int, tokens: int) -> tuple[str, ...]:
    return tuple(d["text"] for d in planted_corpus(n, seed=seed, tokens=tokens))


def texts(n: int, seed: int = 7, tokens: int = 400) -> list[str]:
    """The first `n` texts of the planted code corpus (generated once per process and size)."""
    return list(_texts(n, seed, tokens))


TOOLS = [{"type": "function", "function": {"name": "bash", "description": "Run a command",
                                           "parameters": {"type": "object"}}}]


def trajectories(n: int, seed: int = 11, tokens: int = 300) -> Iterator[dict]:
    """Trajectory records (schema-valid) whose assistant/tool text carries planted near-duplicates."""
    for i, doc in enumerate(planted_corpus(n, seed=seed, tokens=tokens)):
        half = len(doc["text"]) // 2
        yield {
            "traj_id": f"traj-{i:08d}", "instance_id": f"proj__repo-{i % 997}", "agent": "bench-agent",
            "model": "bench-model", "tools": TOOLS, "patch": "", "exit_status": "submitted",
            "policy_version_begin": "v1", "policy_version_end": "v1",
            "messages": [
                {"role": "system", "content": "You fix bugs in Python repositories."},
                {"role": "user", "content": f"Fix issue {i % 997} in proj/repo."},
                {"role": "assistant", "content": doc["text"][:half], "tool_calls": [
                    {"id": "c1", "type": "function", "function": {"name": "bash", "arguments": "{\"command\": \"ls\"}"}}]},
                {"role": "tool", "content": doc["text"][half:], "tool_call_id": "c1", "name": "bash"},
            ],
        }


def write_jsonl(path: Path, records) -> int:
    n = 0
    with open(path, "w", encoding="utf-8") as fh:
        for r in records:
            fh.write(json.dumps(r) + "\n")
            n += 1
    return n


def beam_args() -> list[str]:
    """The CLI's local defaults (DirectRunner, 2 threads), unless BENCH_BEAM_ARGS overrides them."""
    extra = os.environ.get("BENCH_BEAM_ARGS")
    return extra.split() if extra else []
