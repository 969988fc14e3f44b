"""LSH banding: how many bands of how many rows, and each band's 63-bit bucket key.

datasketch picks (bands, rows) by weighing false positives and false negatives equally, which at
a 0.8 threshold and 128 permutations gives 9 bands of 13 rows: a pair at Jaccard 0.8 becomes a
candidate only ~40% of the time. Here candidates are always verified afterwards, so a false
positive costs one comparison while a false negative loses a duplicate for good: `choose_bands`
therefore "queries lower", requiring that a pair at the threshold becomes a candidate with
probability >= `min_recall` and, among such shapes, takes the one with the fewest false candidates.
"""

from __future__ import annotations

import functools

import numpy as np

KEY_MASK = np.uint64((1 << 63) - 1)  # Beam's varint integer coder takes signed 64-bit values
_MULT = np.uint64(0x9E3779B97F4A7C15)
_F1, _F2, _S33 = np.uint64(0xFF51AFD7ED558CCD), np.uint64(0xC4CEB9FE1A85EC53), np.uint64(33)


def candidate_probability(jaccard: float, bands: int, rows: int) -> float:
    """P(a pair with this Jaccard shares at least one band)."""
    return 1.0 - (1.0 - jaccard**rows) ** bands


def _false_candidates(threshold: float, bands: int, rows: int, steps: int = 200) -> float:
    # Integral of the candidate probability below the threshold (midpoint rule): the expected
    # share of dissimilar pairs sent to verification.
    width = threshold / steps
    return sum(candidate_probability((i + 0.5) * width, bands, rows) for i in range(steps)) * width


@functools.cache
def choose_bands(threshold: float, num_perm: int, min_recall: float = 0.995) -> tuple[int, int]:
    """(bands, rows) with bands*rows <= num_perm and P(candidate | J=threshold) >= min_recall."""
    if not 0.0 < threshold <= 1.0:
        raise ValueError(f"threshold must be in (0, 1], got {threshold}")
    best: tuple[float, int, int] | None = None
    for rows in range(1, num_perm + 1):
        bands = num_perm // rows
        if candidate_probability(threshold, bands, rows) < min_recall:
            continue
        cost = _false_candidates(threshold, bands, rows)
        if best is None or cost < best[0]:
            best = (cost, bands, rows)
    if best is None:  # only reachable for tiny num_perm: fall back to one row per band
        return num_perm, 1
    return best[1], best[2]


def band_keys(signatures: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """(n, bands) int64 bucket keys in [0, 2^63); the band index is mixed in, so bands never collide."""
    n = signatures.shape[0]
    sig = signatures[:, : bands * rows].astype(np.uint64).reshape(n, bands, rows)
    h = np.broadcast_to(np.arange(1, bands + 1, dtype=np.uint64), (n, bands)).copy()
    for j in range(rows):
        h = h * _MULT + sig[:, :, j]
    h ^= h >> _S33
    h *= _F1
    h ^= h >> _S33
    h *= _F2
    h ^= h >> _S33
    return (h & KEY_MASK).astype(np.int64)
