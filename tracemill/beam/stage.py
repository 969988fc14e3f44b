"""The one stage wrapper: every input goes to exactly one of kept, rejected or dead.

`fn(record) -> dict | Rejection` is a plain function. RecordError and unexpected exceptions
dead-letter the record with the exception type and message; InfraError is retried `infra_retries`
times and then dead-lettered with its reason. Nothing is counted-and-dropped.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import apache_beam as beam
from apache_beam import pvalue

from tracemill.errors import InfraError
from tracemill.records import Rejection, dead_letter_record, rejection_record

KEPT, REJECTED, DEAD = "kept", "rejected", "dead"
log = logging.getLogger(__name__)


def apply_stage(fn: Callable, record: dict, stage: str, infra_retries: int = 0, **side):
    """(tag, value) for one record: the same routing the DoFn does, usable without Beam."""
    for attempt in range(infra_retries + 1):
        try:
            out = fn(record, **side)
        except InfraError as exc:
            if attempt < infra_retries:
                continue
            return DEAD, dead_letter_record(record, stage, exc)
        except Exception as exc:
            log.debug("stage %s dead-lettered a record", stage, exc_info=True)
            return DEAD, dead_letter_record(record, stage, exc)
        if isinstance(out, Rejection):
            return REJECTED, rejection_record(record, stage, out)
        return KEPT, out
    raise AssertionError("unreachable")


class _StageFn(beam.DoFn):
    def __init__(self, fn: Callable, stage: str, infra_retries: int):
        self._fn, self._stage, self._retries = fn, stage, infra_retries

    def process(self, record, **side):
        tag, value = apply_stage(self._fn, record, self._stage, self._retries, **side)
        yield value if tag == KEPT else pvalue.TaggedOutput(tag, value)


class _ConcurrentStageFn(_StageFn):
    """Applies the stage to a batch of records on a thread pool: for subprocess-bound work (sandboxed
    test runs) whose parallelism should not depend on how many Beam workers the runner gives us."""

    def __init__(self, fn: Callable, stage: str, infra_retries: int, concurrency: int):
        super().__init__(fn, stage, infra_retries)
        self._concurrency = concurrency

    def setup(self):
        self._pool = ThreadPoolExecutor(max_workers=self._concurrency, thread_name_prefix=self._stage)

    def teardown(self):
        self._pool.shutdown(wait=True)

    def process(self, batch, **side):
        futures = [self._pool.submit(apply_stage, self._fn, rec, self._stage, self._retries, **side)
                   for rec in batch]
        for fut in futures:
            tag, value = fut.result()
            yield value if tag == KEPT else pvalue.TaggedOutput(tag, value)


class Stage(beam.PTransform):
    """Apply `fn` to each record; outputs tagged `kept`, `rejected`, `dead`.

    Keyword side inputs (e.g. `tasks=beam.pvalue.AsDict(...)`) are passed to `fn` by name.
    `concurrency` > 1 runs `fn` on that many threads per worker over batches of records (0: one
    thread per core); use it for work that waits on subprocesses.
    """

    def __init__(self, stage: str, fn: Callable, infra_retries: int = 0, concurrency: int = 1, **side_inputs):
        super().__init__(label=stage)
        self.stage, self.fn, self.infra_retries, self.side = stage, fn, infra_retries, side_inputs
        self.concurrency = concurrency if concurrency > 0 else (os.cpu_count() or 1)

    def expand(self, pcoll):
        if self.concurrency > 1:
            fn = _ConcurrentStageFn(self.fn, self.stage, self.infra_retries, self.concurrency)
            pcoll = pcoll | "Batch" >> beam.BatchElements(min_batch_size=1, max_batch_size=4 * self.concurrency)
        else:
            fn = _StageFn(self.fn, self.stage, self.infra_retries)
        return pcoll | beam.ParDo(fn, **self.side).with_outputs(
            REJECTED, DEAD, main=KEPT
        )
