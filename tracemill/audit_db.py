"""`OUT/audit.duckdb`: views over the run's Parquet shards, usable from the duckdb CLI with no tracemill.

Views use paths relative to the database file's folder only when opened from there, so the database
stores absolute paths of the local output folder (it is rebuilt by `tracemill audit` after a move).
"""

from __future__ import annotations

import os

import duckdb

VIEWS = {
    "tasks": "tasks",
    "trajectories": "trajectories",
    "test_runs": "test_runs",
    "sft": "sft",
    "rl": "rl",
    "rejections": "rejections",
    "dispositions": "dispositions",
    "timings": "timings",
}


def create(out_dir: str, db_name: str = "audit.duckdb") -> str:
    """(Re)create the audit database with one view per output plus `manifest`."""
    out_abs = os.path.abspath(out_dir)
    path = os.path.join(out_abs, db_name)
    tmp = path + ".tmp"
    for p in (tmp, tmp + ".wal"):
        if os.path.exists(p):
            os.remove(p)
    con = duckdb.connect(tmp)
    try:
        for view, folder in VIEWS.items():
            pattern = os.path.join(out_abs, folder, "*.parquet").replace("'", "''")
            con.execute(f"CREATE VIEW {view} AS SELECT * FROM read_parquet('{pattern}')")
        manifest = os.path.join(out_abs, "manifest.json").replace("'", "''")
        con.execute(f"CREATE VIEW manifest AS SELECT * FROM read_json_auto('{manifest}')")
        con.execute("CHECKPOINT")
    finally:
        con.close()
    os.replace(tmp, path)
    return path
