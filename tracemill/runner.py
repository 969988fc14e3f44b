"""Running a pipeline from the CLI: runner defaults, output folder hygiene, run info, summary."""

from __future__ import annotations

import json
import logging
import os
import shutil
import sys
import time
from pathlib import Path

from tracemill.errors import ConfigError

# One worker: Beam 2.77's FnApiRunner with direct_num_workers=2 in multi_threading mode intermittently
# drops GroupByKey values (reproduced: Create -> GroupByKey loses ~0.5% of 200k values in ~1 run of 6),
# which breaks "nothing lost". Pass --direct_num_workers=2 --direct_running_mode=multi_processing for
# two cores.
LOCAL_DEFAULTS = ["--runner=DirectRunner", "--direct_num_workers=1"]


def pipeline_options(beam_args: list[str]):
    """Beam flags pass through unchanged; without --runner the local runner is selected explicitly
    (DirectRunner may otherwise try to fetch the Prism binary, which fails offline)."""
    from apache_beam.options.pipeline_options import PipelineOptions  # lazy: keeps `--help` fast

    args = list(beam_args)
    if not any(a.startswith("--runner") for a in args):
        args = [*LOCAL_DEFAULTS, *args]
    return PipelineOptions(args)


def prepare_out_dir(out_dir: str, owned: list[str]) -> None:
    """Create `out_dir`; clear our own previous outputs in it, refusing to touch a foreign folder."""
    if "://" in out_dir:
        return  # remote file systems: shards are overwritten atomically by name
    path = Path(out_dir)
    if path.exists() and any(path.iterdir()) and not (path / "manifest.json").exists() \
            and not (path / "run_info.json").exists():
        raise ConfigError(f"output folder {out_dir} is not empty and holds no tracemill run; choose another --out")
    path.mkdir(parents=True, exist_ok=True)
    for name in owned:
        target = path / name
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()


def run_pipeline(build, options) -> float:
    import apache_beam as beam

    start = time.monotonic()
    with beam.Pipeline(options=options) as p:
        build(p)
    return time.monotonic() - start


def enable_progress() -> None:
    log = logging.getLogger("tracemill.progress")
    if not log.handlers:
        from tracemill.progress import ProgressHandler  # a bar on a terminal, plain lines otherwise

        log.addHandler(ProgressHandler(sys.stderr))
    log.setLevel(logging.INFO)
    log.propagate = False


def write_run_info(out_dir: str, info: dict) -> None:
    if "://" not in out_dir:
        Path(out_dir, "run_info.json").write_text(json.dumps(info, indent=2, sort_keys=True) + "\n")


def summary_table(manifest: dict) -> str:
    t = manifest["counts"]["total"]
    rows = [("input records", t["input"]), ("emitted", t["emitted"]), ("filtered", t["filtered"]),
            ("deduplicated", t["deduplicated"]), ("dead-lettered", t["dead_lettered"])]
    ex = manifest["counts"].get("examples", {})
    for split, c in ex.items():
        rows.append((f"{split} examples", c["emitted"]))
    width = max(len(r[0]) for r in rows) + 2
    lines = [f"{'':2}{name:<{width}}{value:>8}" for name, value in rows]
    status = "reconciled" if manifest["counts"].get("reconciled") else "NOT RECONCILED"
    return "\n".join(["", "  tracemill summary", *lines, f"  counts {status}", ""])


def env_flag(name: str) -> bool:
    return os.environ.get(name, "").lower() in ("1", "true", "yes")


def final_status(manifest: dict, max_dead_letter_ratio: float, limit_name: str = "max_dead_letter_ratio",
                 hint: str = "") -> int:
    """A run's exit code: 3 when its counts do not reconcile or more than the allowed share of inputs
    was dead-lettered (outputs are kept for inspection), otherwise 0."""
    t = manifest["counts"]["total"]
    if not manifest["counts"]["reconciled"]:
        print("tracemill: error: disposition counts do not reconcile with the inputs", file=sys.stderr)
        return 3
    if t["input"] and t["dead_lettered"] / t["input"] > max_dead_letter_ratio:
        print(f"tracemill: error: {t['dead_lettered']} of {t['input']} records dead-lettered, above "
              f"{limit_name}={max_dead_letter_ratio}{hint}", file=sys.stderr)
        return 3
    return 0
