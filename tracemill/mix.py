"""Mixing by weights and token budgets, decided per example without a global sort.

Each source of a split gets budget * weight / sum(weights) tokens. Knowing a source's total tokens
(one combine), an example is kept iff its deterministic draw u(seed, id) < min(1, share / total):
the expected kept tokens meet the share, the choice does not depend on arrival order, and the step
scales like a map. Sources are never upsampled: a shortfall is reported, not filled with repeats.
"""

from __future__ import annotations

from tracemill.config import SplitMix
from tracemill.records import unit_interval


def shares(mix: SplitMix) -> dict[str, float | None]:
    """Token share per source; None means unlimited."""
    if mix.token_budget is None:
        return {s: None for s in mix.weights}
    total_w = sum(mix.weights.values())
    return {s: (mix.token_budget * w / total_w if total_w else 0.0) for s, w in mix.weights.items()}


def keep_probability(share: float | None, source_tokens: int) -> float:
    if share is None:
        return 1.0
    if source_tokens <= 0:
        return 0.0
    return min(1.0, share / source_tokens)


def decide(example: dict, seed: int, probability: float) -> tuple[bool, float]:
    """(keep, draw) for one example."""
    draw = unit_interval(seed, example["id"])
    return draw < probability, draw
