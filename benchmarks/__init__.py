"""tracemill's benchmark suite: `python -m benchmarks.run --size quick|full` (`make bench-quick`, `make bench`).

Each `bench_*.py` module exposes `run(size) -> dict` and measures a stage against a baseline doing
the same work, side by side in the same run; `benchmarks.run` discovers them and writes
`benchmarks/results/report.json` and `report.md`. Helpers for timing and reporting are in `common`.
"""
