"""The one stage wrapper: every input goes to exactly one of kept, rejected or dead.

`fn(record) -> dict | Rejection` is a plain function. RecordError and unexpected exceptions
dead-letter the record with the exception type and message; InfraError is retried `infra_retries`
times and then dead-lettered with its reason. Nothing is counted-and-dropped.
"""

from __future__ import annotations

import logging
from typing import Callable

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
        except Exception as exc:  # noqa: BLE001 - a bad record must never crash the run
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


class Stage(beam.PTransform):
    """Apply `fn` to each record; outputs tagged `kept`, `rejected`, `dead`.

    Keyword side inputs (e.g. `tasks=beam.pvalue.AsDict(...)`) are passed to `fn` by name.
    """

    def __init__(self, stage: str, fn: Callable, infra_retries: int = 0, **side_inputs):
        super().__init__(label=stage)
        self.stage, self.fn, self.infra_retries, self.side = stage, fn, infra_retries, side_inputs

    def expand(self, pcoll):
        fn = _StageFn(self.fn, self.stage, self.infra_retries)
        return pcoll | beam.ParDo(fn, **self.side).with_outputs(
            REJECTED, DEAD, main=KEPT
        )
