"""The traces run's configuration: one frozen dataclass tree, recorded with its hash in the manifest.

TODO(config): fold into tracemill.config.Config as a `traces` section once the sft-mix config
settles; the dataclasses here already follow its conventions (frozen, defaults that just run).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tracemill.config import DedupConfig
from tracemill.errors import ConfigError
from tracemill.trace.examples import ExampleSettings
from tracemill.trace.repo import RepoSettings
from tracemill.trace.runner import TraceSettings
from tracemill.trace.snippets import CandidateLimits


@dataclass(frozen=True)
class TracesConfig:
    trace: TraceSettings = field(default_factory=TraceSettings)
    candidates: CandidateLimits = field(default_factory=CandidateLimits)
    examples: ExampleSettings = field(default_factory=ExampleSettings)
    repo: RepoSettings = field(default_factory=RepoSettings)
    batch_size: int = 64  # (snippet, input) items per sandbox process
    infra_retries: int = 1
    # The project's dedup settings, on the traces' CWM frames (transforms.near_dedup_text), with a
    # higher threshold than for rollouts: one loop run 20 or 21 times is 0.93 similar, and both
    # are worth keeping.
    dedup: DedupConfig = field(default_factory=lambda: DedupConfig(threshold=0.95))
    max_dead_letter_ratio: float = 0.5

    def validate(self) -> TracesConfig:
        if self.trace.max_steps < 1 or self.trace.time_s <= 0 or self.trace.memory_mb < 64:
            raise ConfigError("trace limits must be positive (max_steps >= 1, time_s > 0, memory_mb >= 64)")
        if self.batch_size < 1:
            raise ConfigError("batch_size must be >= 1")
        if not 0 < self.dedup.threshold <= 1:
            raise ConfigError(f"dedup.threshold must be in (0, 1], got {self.dedup.threshold}")
        return self
