"""Beam composites of the task factory: parallel validation, exact patch dedup, a seeded cap, the sinks.

Each routes every input to exactly one of kept / rejected / dead, like `tracemill.beam.stage.Stage`.
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import apache_beam as beam
from apache_beam import pvalue

import schemas
from tracemill.beam.stage import DEAD, KEPT, REJECTED, apply_stage
from tracemill.errors import RecordError
from tracemill.records import Rejection, canonical_json, rejection_record, strip_origin

_SLOTS_LOCK = threading.Lock()
_SLOTS: dict[str, threading.BoundedSemaphore] = {}


def _slots(stage: str, n: int) -> threading.BoundedSemaphore:
    """One semaphore per stage and process: however many DoFn instances the runner makes
    (`--direct_num_workers`), at most `n` validations of a stage run at once in this process."""
    with _SLOTS_LOCK:
        if stage not in _SLOTS:
            _SLOTS[stage] = threading.BoundedSemaphore(n)
        return _SLOTS[stage]


def _guarded(slots: threading.BoundedSemaphore, fn: Callable, rec: dict, stage: str, retries: int):
    with slots:
        return apply_stage(fn, rec, stage, retries)


class _ParallelStageFn(beam.DoFn):
    def __init__(self, fn: Callable, stage: str, workers: int, infra_retries: int):
        self._fn, self._stage, self._workers, self._retries = fn, stage, workers, infra_retries

    def setup(self):
        self._pool = ThreadPoolExecutor(max_workers=self._workers, thread_name_prefix=self._stage)
        self._slots = _slots(self._stage, self._workers)

    def process(self, batch):
        # Sandboxed test runs are subprocesses: threads overlap them without contending for the GIL.
        futures = [self._pool.submit(_guarded, self._slots, self._fn, rec, self._stage, self._retries) for rec in batch]
        for fut in futures:
            tag, value = fut.result()
            yield value if tag == KEPT else pvalue.TaggedOutput(tag, value)

    def teardown(self):
        self._pool.shutdown(wait=True)


def default_workers() -> int:
    return max(1, os.cpu_count() or 1)


class ValidateInParallel(beam.PTransform):
    """`Stage` whose records are validated `workers` at a time (test runs up to the core count)."""

    def __init__(self, stage: str, fn: Callable, workers: int | None = None, infra_retries: int = 1,
                 batch_size: int = 64):
        super().__init__(label=stage)
        self.stage, self.fn, self.infra_retries = stage, fn, infra_retries
        self.workers, self.batch_size = workers or default_workers(), batch_size

    def expand(self, pcoll):
        return (pcoll
                | "Batch" >> beam.BatchElements(min_batch_size=self.batch_size, max_batch_size=self.batch_size)
                | "Run" >> beam.ParDo(_ParallelStageFn(self.fn, self.stage, self.workers, self.infra_retries))
                .with_outputs(REJECTED, DEAD, main=KEPT))


_HUNK = re.compile(r"^@@ .* @@")


def normalized_patch_text(patch: str) -> str:
    """A diff's meaning: file names and changed lines, without index lines, hunk offsets or trailing blanks."""
    keep = []
    for line in (patch or "").splitlines():
        if line.startswith(("index ", "diff --git")) or _HUNK.match(line):
            continue
        if line.startswith(("+", "-")):
            keep.append(line.rstrip())
    return "\n".join(keep)


def patch_text(rec: dict) -> str:
    """Dedup text of a mined task: its normalized code patch."""
    return normalized_patch_text(rec["patch"])


def bug_patch_text(rec: dict) -> str:
    """Dedup text of a mutant: its normalized bug patch."""
    return normalized_patch_text(rec["bug_patch"])


def _cap(stage: str, limit: int | None, rank: Callable[[dict], tuple]):
    def split(recs):
        recs = sorted(recs, key=rank)
        for i, r in enumerate(recs):
            if limit is None or i < limit:
                yield r
            else:
                yield pvalue.TaggedOutput(REJECTED, rejection_record(r, stage, Rejection(
                    "over_max_tasks", signal=float(i + 1), limit=float(limit))))

    return split


class KeepFirstN(beam.PTransform):
    """Keep the `limit` records that rank first (a pure function of the record); reject the rest."""

    def __init__(self, stage: str, limit: int | None, rank: Callable[[dict], tuple]):
        super().__init__(label=stage)
        self.stage, self.limit, self.rank = stage, limit, rank

    def expand(self, pcoll):
        split = _cap(self.stage, self.limit, self.rank)
        return (pcoll
                | "One" >> beam.Map(lambda r: (None, r))
                | "Group" >> beam.GroupByKey()
                | "Split" >> beam.FlatMap(lambda kv: split(kv[1]))
                .with_outputs(REJECTED, main=KEPT))


def validate_task(rec: dict) -> dict:
    """Schema check just before the sink (an invalid task is a bug: dead-letter it, loudly)."""
    clean = strip_origin(rec)
    errs = schemas.errors("task", clean)
    if errs:
        path, msg = errs[0]
        raise RecordError(f"task fails schema: {path}: {msg}", path=path, reason="schema_invalid")
    return rec


def _write_jsonl(path: str):
    def write(rows: list[str]) -> int:
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        tmp = p.with_name(f".{p.name}.tmp")
        tmp.write_text("".join(r + "\n" for r in sorted(rows)), encoding="utf-8")
        tmp.replace(p)  # atomic: readers never see a half-written file
        return len(rows)

    return write


class WriteJsonl(beam.PTransform):
    """All records to one JSONL file, sorted canonical JSON (byte-identical across runs), atomically."""

    def __init__(self, label: str, path: str):
        super().__init__(label=label)
        self.path = path

    def expand(self, pcoll):
        return (pcoll
                | "Canonical" >> beam.Map(lambda r: canonical_json(strip_origin(r)))
                | "All" >> beam.combiners.ToList()
                | "Write" >> beam.Map(_write_jsonl(self.path)))


def read_jsonl(path: Path) -> list[dict]:
    if not Path(path).is_file():
        return []
    return [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]
