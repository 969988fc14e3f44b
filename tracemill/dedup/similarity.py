"""Jaccard similarity, exact (on shingle-hash sets) and estimated (from MinHash signatures)."""

from __future__ import annotations

import numpy as np


def exact_jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """|a & b| / |a | b| for sorted unique hash arrays; two empty sets are not similar (0.0)."""
    if len(a) == 0 and len(b) == 0:
        return 0.0
    inter = len(np.intersect1d(a, b, assume_unique=True))
    return inter / (len(a) + len(b) - inter)


def estimated_jaccard(sig_a: np.ndarray, sig_b: np.ndarray) -> float:
    """Share of equal MinHash slots (datasketch's `MinHash.jaccard`)."""
    return float(np.count_nonzero(sig_a == sig_b)) / len(sig_a)


def containment(probe: np.ndarray, reference: np.ndarray) -> float:
    """|probe & reference| / |probe|: how much of `probe` appears in `reference`."""
    if len(probe) == 0:
        return 0.0
    return len(np.intersect1d(probe, reference, assume_unique=True)) / len(probe)
