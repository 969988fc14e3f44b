"""Progress on long work: a tqdm bar when stderr is a terminal, plain log lines otherwise (CI logs, files).

Two entry points. `Progress`/`track` count items of a loop the caller owns. `ProgressHandler` is the
logging handler `tracemill.runner.enable_progress` installs on the `tracemill.progress` logger: Beam
workers only log ("graded r-001 on textkit-1: resolved"), and the handler turns those lines into one
bar per activity (the message's first word, or `extra={"activity": ...}`), so worker code never holds
a bar and the same code logs cleanly on Dataflow.
"""

from __future__ import annotations

import io
import logging
import os
import sys
import threading
from collections.abc import Iterable, Iterator
from typing import IO, Self, TypeVar

from tqdm import tqdm

T = TypeVar("T")

# Bars name what is being counted; log lines keep the worker's own words.
ACTIVITIES = {"graded": "rollouts graded", "verified": "tasks verified", "sampled": "rollouts sampled",
              "traced": "functions traced", "read": "records read"}


def interactive(stream: IO | None = None) -> bool:
    stream = stream if stream is not None else sys.stderr
    try:
        if not stream.isatty():
            return False
    except (AttributeError, ValueError):
        return False
    try:
        # A pseudo-terminal without a size (some CI runners, `script`) would draw zero-width bars.
        return os.get_terminal_size(stream.fileno()).columns > 0
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        return True


class Progress:
    """Count items; a bar on a terminal, a line every `every` items (and a last one) otherwise."""

    def __init__(self, desc: str, total: int | None = None, unit: str = "records", stream: IO | None = None,
                 every: int | None = None, bar: bool | None = None):
        self.desc, self.total, self.unit = desc, total, unit
        self.stream = stream if stream is not None else sys.stderr
        self.count = 0
        self._lock = threading.Lock()
        self._bar = None
        self._every = every or max(1, (total or 100) // 10)
        self._last_line = 0
        if interactive(self.stream) if bar is None else bar:
            self._bar = tqdm(total=total, desc=desc, unit=f" {unit}", file=self.stream, dynamic_ncols=True,
                             leave=True, mininterval=0.2)

    def update(self, n: int = 1, note: str | None = None) -> None:
        with self._lock:
            self.count += n
            if self._bar is not None:
                if note:
                    self._bar.set_postfix_str(note, refresh=False)
                self._bar.update(n)
            elif note or self.count - self._last_line >= self._every or self.count == self.total:
                self._last_line = self.count
                self._line(note)

    def _line(self, note: str | None) -> None:
        of = f"/{self.total}" if self.total is not None else ""
        suffix = f": {note}" if note else ""
        print(f"  {self.desc} {self.count}{of}{suffix}", file=self.stream, flush=True)

    def close(self) -> None:
        with self._lock:
            if self._bar is not None:
                self._bar.close()
                self._bar = None
            elif self.count != self._last_line:
                self._last_line = self.count
                self._line(None)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def track(items: Iterable[T], desc: str, total: int | None = None, unit: str = "records",
          stream: IO | None = None) -> Iterator[T]:
    """Iterate `items`, reporting progress as `Progress` does."""
    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    with Progress(desc, total=total, unit=unit, stream=stream) as progress:
        for item in items:
            yield item
            progress.update()


class ProgressHandler(logging.Handler):
    """`tracemill.progress` log records -> a bar per activity on a terminal, the plain line otherwise."""

    def __init__(self, stream: IO | None = None, bar: bool | None = None):
        super().__init__(logging.INFO)
        self.stream = stream if stream is not None else sys.stderr
        self.bar = interactive(self.stream) if bar is None else bar
        self.setFormatter(logging.Formatter("  %(message)s"))
        self._bars: dict[str, tqdm] = {}
        self._counts: dict[str, int] = {}
        self._guard = threading.Lock()

    @staticmethod
    def activity(record: logging.LogRecord) -> str:
        named = getattr(record, "activity", None)
        if named:
            return str(named)
        first = record.getMessage().split(" ", 1)[0]
        return ACTIVITIES.get(first, first)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            name = self.activity(record)
            with self._guard:
                self._counts[name] = self._counts.get(name, 0) + 1
                if not self.bar:
                    self.stream.write(f"{self.format(record)} [{name}: {self._counts[name]}]\n")
                    self.stream.flush()
                    return
                bar = self._bars.get(name)
                if bar is None:
                    # mininterval=0: items are slow (sandbox runs); draw each one, not a rate-limited subset
                    bar = self._bars[name] = tqdm(desc=f"  {name}", unit=f" {name.split()[0]}", file=self.stream,
                                                  leave=True, dynamic_ncols=True, position=len(self._bars),
                                                  mininterval=0,
                                                  bar_format="{desc}: {n_fmt} [{elapsed}, {rate_fmt}{postfix}]")
                bar.set_postfix_str(record.getMessage()[:60], refresh=False)
                bar.update(1)
        except Exception:  # noqa: BLE001 - a progress display must never fail the run
            self.handleError(record)

    def counts(self) -> dict[str, int]:
        with self._guard:
            return dict(self._counts)

    def close(self) -> None:
        with self._guard:
            for bar in self._bars.values():
                # The bar stays on screen as last drawn; closing again at exit would redraw it below the
                # summary table.
                bar.disable = True
            self._bars.clear()
        super().close()
