"""Tracing cost: overhead vs the untraced run of the same functions, and traces per second per core.

Side by side, in the same sandboxed process type:
- per function, the call's CPU time traced vs untraced (measured around the call only, so module
  loading and sandbox start are excluded); the ratio is the tracer's overhead;
- end to end: sandboxed tracing + record building + CWM rendering, as CPU seconds of this process
  and all its reaped descendants per trace, with one sandbox per trace (the baseline) vs `batch`
  traces per sandbox process. Traces per CPU-second is traces per second per busy core.
Wall-clock figures are reported beside the CPU ones, with the load average, because the machine
may be shared.

`run(size)` returns medians over repeats; `python -m benchmarks.bench_trace [quick|full]` prints them.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import sys
import time

from tracemill.trace.record import trace_record
from tracemill.trace.runner import TraceSettings, trace_items

WORKLOADS = {
    "loop_sum": ("def f(n):\n    total = 0\n    for i in range(n):\n        total += i * i\n    return total\n",
                 [400]),
    "recursion_fib": ("def f(n):\n    if n < 2:\n        return n\n    return f(n - 1) + f(n - 2)\n", [12]),
    "bubble_sort": (("def f(xs):\n    xs = list(xs)\n    for i in range(len(xs)):\n        for j in range(len(xs) - 1 - i):\n"
                    "            if xs[j] > xs[j + 1]:\n                xs[j], xs[j + 1] = xs[j + 1], xs[j]\n    return xs\n"),
                    [list(range(30, 0, -1))]),
    "word_counts": (("def f(text):\n    counts = {}\n    for word in text.split():\n        w = word.lower().strip('.,')\n"
                    "        counts[w] = counts.get(w, 0) + 1\n    return sorted(counts.items(), key=lambda kv: -kv[1])[:5]\n"),
                    ["The cat and the dog. The end, and the start " * 20]),
    "class_methods": (("class Stack:\n    def __init__(self):\n        self.items = []\n\n    def push(self, x):\n"
                      "        self.items.append(x)\n\n    def pop(self):\n        return self.items.pop()\n\n\n"
                      "def f(n):\n    s = Stack()\n    for i in range(n):\n        s.push(i)\n    total = 0\n"
                      "    while s.items:\n        total += s.pop()\n    return total\n"), [150]),
    "comprehensions": (("def f(n):\n    squares = [i * i for i in range(n)]\n    evens = {i: s for i, s in enumerate(squares) if s % 2 == 0}\n"
                       "    return sum(v for v in evens.values())\n"), [400]),
}
SIZES = {"quick": {"repeats": 3, "e2e_traces": 48, "batch": 48},
         "full": {"repeats": 7, "e2e_traces": 256, "batch": 64}}
SETTINGS = TraceSettings(max_steps=200_000, time_s=30.0, memory_mb=1024)


def _items(repeat: int) -> list[dict]:
    return [{"key": f"{name}@{repeat}", "source": src, "entry": "f", "args": args, "kwargs": {}}
            for name, (src, args) in WORKLOADS.items()]


def overhead(repeats: int) -> dict:
    """Median call cost traced vs untraced, per workload, each mode in its own sandbox process.

    CPU time (time.process_time in the child) is the headline: on a shared machine wall time
    measures the neighbours. Wall medians are reported beside it.
    """
    cpu = {mode: {k: [] for k in WORKLOADS} for mode in (True, False)}
    wall = {mode: {k: [] for k in WORKLOADS} for mode in (True, False)}
    events: dict[str, int] = {}
    for r in range(repeats):
        for mode in (True, False):
            for key, res in trace_items(_items(r), SETTINGS, traced=mode, extra_settings={"warmup": True}).items():
                name = key.split("@")[0]
                assert res["status"] == "complete", (key, res["status"], res.get("truncation_reason"))
                cpu[mode][name].append(res["call_cpu_s"])
                wall[mode][name].append(res["call_s"])
                if mode:
                    events[name] = len(res["events"])
    rows = {}
    for name in WORKLOADS:
        tc, uc = statistics.median(cpu[True][name]), statistics.median(cpu[False][name])
        tw, uw = statistics.median(wall[True][name]), statistics.median(wall[False][name])
        rows[name] = {"events": events[name], "untraced_cpu_ms": round(uc * 1e3, 4), "traced_cpu_ms": round(tc * 1e3, 3),
                      "overhead_x": round(tc / uc, 1), "traced_cpu_us_per_event": round(tc / events[name] * 1e6, 2),
                      "untraced_wall_ms": round(uw * 1e3, 4), "traced_wall_ms": round(tw * 1e3, 3),
                      "overhead_wall_x": round(tw / uw, 1)}
    ratios = [row["overhead_x"] for row in rows.values()]
    per_repeat = {mode: {"cpus": [sum(cpu[mode][k][r] for k in WORKLOADS) for r in range(repeats)],
                         "walls": [sum(wall[mode][k][r] for k in WORKLOADS) for r in range(repeats)]}
                  for mode in (True, False)}
    return {"by_workload": rows, "median_overhead_x": round(statistics.median(ratios), 1),
            "per_repeat": {"traced": per_repeat[True], "untraced": per_repeat[False]},
            "median_overhead_wall_x": round(statistics.median(row["overhead_wall_x"] for row in rows.values()), 1),
            "min_overhead_x": min(ratios), "max_overhead_x": max(ratios),
            "median_cpu_us_per_event": round(statistics.median(r["traced_cpu_us_per_event"] for r in rows.values()), 2)}


def _cpu_now() -> float:
    """CPU seconds of this process plus every reaped descendant (bwrap and the tracer under it)."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _e2e(n: int, batch: int) -> tuple[float, float]:
    """(wall s, CPU s) to trace `n` items `batch` per sandbox, build records and render CWM text."""
    names = list(WORKLOADS)
    items = [{"key": f"{names[i % len(names)]}@{i}", "source": WORKLOADS[names[i % len(names)]][0], "entry": "f",
              "args": WORKLOADS[names[i % len(names)]][1], "kwargs": {}} for i in range(n)]
    start, cpu = time.perf_counter(), _cpu_now()
    for lo in range(0, n, batch):
        chunk = items[lo:lo + batch]
        results = trace_items(chunk, SETTINGS)
        for it in chunk:
            cand = {"id": it["key"], "snippet_id": it["key"], "input_index": 0, "source": it["source"],
                    "entry": "f", "inputs": {"args": it["args"], "kwargs": {}}}
            trace_record(cand, results[it["key"]], SETTINGS.tracer_settings())
    return time.perf_counter() - start, _cpu_now() - cpu


def throughput(n: int, batch: int, repeats: int) -> dict:
    """Traces per CPU-second (= per core when cores are busy) and per wall-second, batched vs the
    baseline of one sandbox per trace (measured on fewer traces: it is the slow side)."""
    n_base = max(8, n // 4)
    reps = max(1, repeats // 2)
    base = [_e2e(n_base, 1) for _ in range(reps)]
    batched = [_e2e(n, batch) for _ in range(reps)]
    b_cpu, s_cpu = statistics.median(c / n for _, c in batched), statistics.median(c / n_base for _, c in base)
    b_wall, s_wall = statistics.median(w / n for w, _ in batched), statistics.median(w / n_base for w, _ in base)
    return {"traces": n, "batch": batch, "baseline_traces": n_base,
            "per_repeat": {"batched": {"walls": [w for w, _ in batched], "cpus": [c for _, c in batched]},
                           "one_sandbox_per_trace": {"walls": [w for w, _ in base], "cpus": [c for _, c in base]}},
            "batched_traces_per_s_per_core": round(1 / b_cpu, 1),
            "one_sandbox_per_trace_traces_per_s_per_core": round(1 / s_cpu, 1),
            "batching_speedup_x": round(s_cpu / b_cpu, 1),
            "batched_cpu_ms_per_trace": round(b_cpu * 1e3, 2), "unbatched_cpu_ms_per_trace": round(s_cpu * 1e3, 2),
            "batched_wall_ms_per_trace": round(b_wall * 1e3, 2), "unbatched_wall_ms_per_trace": round(s_wall * 1e3, 2),
            "batched_traces_per_wall_s": round(1 / b_wall, 1)}


def _measurement(name: str, n: int, walls: list[float], cpus: list[float]) -> dict:
    """The shape benchmarks/common.py's Measurement.as_dict() gives, so benchmarks/run.py renders it."""
    w, c = statistics.median(walls), statistics.median(cpus)
    return {"name": name, "n": n, "median_wall_s": round(w, 4), "median_cpu_s": round(c, 4),
            "per_wall_s": round(n / w, 1), "per_cpu_s": round(n / c, 1), "repeats": len(walls),
            "walls": [round(x, 4) for x in walls], "cpus": [round(x, 4) for x in cpus]}


def _row(case: str, unit: str, kind: str, baseline: dict, candidate: dict) -> dict:
    cost = candidate["median_cpu_s"] / baseline["median_cpu_s"]
    wall = candidate["median_wall_s"] / baseline["median_wall_s"]
    scale = candidate["n"] / baseline["n"]
    ratio, wall_ratio = (cost, wall) if kind == "cost" else (scale / cost, scale / wall)
    return {"case": case, "unit": unit, "kind": kind, "baseline": baseline, "candidate": candidate,
            "ratio": round(ratio, 3), "wall_ratio": round(wall_ratio, 3), "target": None, "met": None}


def run(size: str) -> dict:
    """Benchmark entry point for benchmarks/run.py; `size` is "quick" or "full".

    Returns the suite's report shape (title, rows, tables, notes) plus `medians` and `ratios`.
    """
    if size not in SIZES:
        raise ValueError(f"size must be one of {sorted(SIZES)}")
    cfg = SIZES[size]
    over = overhead(cfg["repeats"])
    thr = throughput(cfg["e2e_traces"], cfg["batch"], cfg["repeats"])
    calls = len(WORKLOADS)
    rows = [
        _row("tracing overhead (sum of the 6 workload calls)", "calls", "cost",
             _measurement("untraced call", calls, **over["per_repeat"]["untraced"]),
             _measurement("traced call", calls, **over["per_repeat"]["traced"])),
        _row("end-to-end trace + record + CWM text", "traces", "speed",
             _measurement("one sandbox per trace", thr["baseline_traces"], **thr["per_repeat"]["one_sandbox_per_trace"]),
             _measurement(f"{thr['batch']} traces per sandbox", thr["traces"], **thr["per_repeat"]["batched"])),
    ]
    table = {"title": "Tracing overhead per workload (median CPU time of the call, traced / untraced)",
             "columns": ["workload", "events", "untraced CPU ms", "traced CPU ms", "overhead x", "CPU us/event",
                         "wall overhead x"],
             "rows": [[k, v["events"], v["untraced_cpu_ms"], v["traced_cpu_ms"], v["overhead_x"],
                       v["traced_cpu_us_per_event"], v["overhead_wall_x"]] for k, v in over["by_workload"].items()]}
    return {
        "title": "Execution tracing (sandboxed sys.settrace, CWM rendering)",
        "rows": rows,
        "tables": [table],
        "notes": [
            (f"median tracing overhead {over['median_overhead_x']}x CPU ({over['median_overhead_wall_x']}x wall) "
            f"over the untraced call; {over['median_cpu_us_per_event']} CPU us per recorded event (every local "
            "of every step goes through the bounded repr)"),
            (f"{thr['batched_traces_per_s_per_core']} traces per CPU-second (per core) end to end with "
            f"{thr['batch']} traces per sandbox vs {thr['one_sandbox_per_trace_traces_per_s_per_core']} with one "
            f"sandbox per trace ({thr['batching_speedup_x']}x); {thr['batched_traces_per_wall_s']} traces per "
            f"wall-second at load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"),
            ("each trace runs in its own forked child inside the sandbox (isolation), which the per-trace CPU "
            "figures include; module loading and sandbox start are excluded from the overhead ratio"),
        ],
        "medians": {"tracing_overhead_x": over["median_overhead_x"],
                    "tracing_overhead_wall_x": over["median_overhead_wall_x"],
                    "cpu_us_per_event": over["median_cpu_us_per_event"],
                    "traces_per_s_per_core": thr["batched_traces_per_s_per_core"],
                    "cpu_ms_per_trace": thr["batched_cpu_ms_per_trace"],
                    "wall_ms_per_trace": thr["batched_wall_ms_per_trace"]},
        "ratios": {"traced_vs_untraced_x": over["median_overhead_x"],
                   "batched_vs_one_sandbox_per_trace_x": thr["batching_speedup_x"]},
        "extra": {"size": size, "python": sys.version.split()[0], "cpu_count": os.cpu_count(),
                  "load_average_1m": round(os.getloadavg()[0], 2), "overhead": over, "throughput": thr},
    }


if __name__ == "__main__":
    print(json.dumps(run(sys.argv[1] if len(sys.argv) > 1 else "quick"), indent=2))
