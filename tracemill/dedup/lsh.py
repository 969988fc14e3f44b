"""The same near-dup decision in one process, vectorised: for small inputs, quality checks and benchmarks.

Beam's `DedupNearDuplicates` shuffles band keys; here one numpy sort per band finds the buckets.
Both use the same signatures, band keys, bucket pairing rule, verification and keeper rule, so on
one machine they agree record for record (tests/test_dedup_quality.py checks it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from tracemill.dedup.bands import band_keys
from tracemill.dedup.components import components
from tracemill.dedup.shingles import sorted_unique
from tracemill.dedup.similarity import exact_jaccard

DEFAULT_MAX_BUCKET = 100


def candidate_pairs(keys: np.ndarray, max_bucket: int = DEFAULT_MAX_BUCKET) -> np.ndarray:
    """(m, 2) int64 index pairs (i < j) sharing at least one band key, without repeats.

    keys: (n, bands) band keys; rows with key -1 are skipped (documents without shingles).
    Buckets above `max_bucket` pair every member with the `max_bucket` smallest indices only.
    """
    n, bands = keys.shape
    out = []
    idx = np.arange(n, dtype=np.int64)
    for band in range(bands):
        col = keys[:, band]
        valid = col >= 0
        members_all = idx[valid]
        # A stable sort keeps members in index (= id) order within each bucket.
        order = np.argsort(col[valid], kind="stable")
        k, members = col[valid][order], members_all[order]
        if len(k) < 2:
            continue
        boundaries = np.flatnonzero(np.diff(k)) + 1
        starts = np.concatenate(([0], boundaries))
        sizes = np.diff(np.concatenate((starts, [len(k)])))
        multi = sizes > 1
        # Pairs (start + p, start + q), p < q, are produced size by size: most buckets have 2 members.
        for size in np.unique(sizes[multi]):
            group_starts = starts[multi][sizes[multi] == size]
            p, q = np.triu_indices(size, 1)
            keep = p < max_bucket
            p, q = p[keep], q[keep]
            a = members[(group_starts[:, None] + p[None, :]).ravel()]
            b = members[(group_starts[:, None] + q[None, :]).ravel()]
            out.append(np.stack([a, b], axis=1))
    if not out:
        return np.empty((0, 2), dtype=np.int64)
    pairs = np.concatenate(out)
    # Repeats across bands collapse through one int64 code per pair (cheaper than unique rows).
    codes = sorted_unique(pairs[:, 0] * np.int64(n) + pairs[:, 1])
    return np.stack([codes // n, codes % n], axis=1)


def estimated_similarities(signatures: np.ndarray, pairs: np.ndarray, chunk: int = 65536) -> np.ndarray:
    """Share of equal signature slots for each pair, vectorised in chunks."""
    sims = np.empty(len(pairs), dtype=np.float64)
    for s in range(0, len(pairs), chunk):
        p = pairs[s : s + chunk]
        sims[s : s + chunk] = (signatures[p[:, 0]] == signatures[p[:, 1]]).mean(axis=1)
    return sims


@dataclass(frozen=True)
class NearDuplicate:
    record_id: str
    duplicate_of: str
    similarity: float
    nearest: str


def verified_pairs(ids: Sequence[str], signatures: np.ndarray, bands: int, rows: int, threshold: float,
                   hash_sets: Sequence[np.ndarray] | None = None,
                   max_bucket: int = DEFAULT_MAX_BUCKET) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(ids sorted, (m, 2) index pairs into them, similarities) of the candidate pairs that verify.

    With `hash_sets` candidates are verified by exact Jaccard, otherwise by the signatures.
    """
    order = np.argsort(np.asarray(ids, dtype=object), kind="stable")  # index order = id order
    ids_sorted = [ids[i] for i in order]
    sigs = signatures[order]
    keys = band_keys(sigs, bands, rows)
    if hash_sets is not None:
        empty = np.array([len(hash_sets[i]) == 0 for i in order], dtype=bool)
    else:
        empty = (sigs == np.uint32(0xFFFFFFFF)).all(axis=1)
    keys[empty] = -1
    pairs = candidate_pairs(keys, max_bucket)
    if hash_sets is not None:
        sets = [hash_sets[i] for i in order]
        sims = np.array([exact_jaccard(sets[a], sets[b]) for a, b in pairs.tolist()], dtype=np.float64)
    else:
        sims = estimated_similarities(sigs, pairs)
    sims = np.round(sims, 6)
    keep = sims >= threshold
    return ids_sorted, pairs[keep], sims[keep]


def near_duplicates(ids: Sequence[str], signatures: np.ndarray, bands: int, rows: int, threshold: float,
                    hash_sets: Sequence[np.ndarray] | None = None,
                    max_bucket: int = DEFAULT_MAX_BUCKET) -> list[NearDuplicate]:
    """Losers of every near-duplicate cluster, each with its keeper (the smallest id)."""
    ids_sorted, pairs, sims = verified_pairs(ids, signatures, bands, rows, threshold, hash_sets, max_bucket)
    labels = components((int(a), int(b)) for a, b in pairs)
    closest: dict[int, tuple[float, int]] = {}
    for (a, b), s in zip(pairs.tolist(), sims.tolist()):
        for x, y in ((a, b), (b, a)):
            cand = (-s, y)
            if x not in closest or cand < closest[x]:
                closest[x] = cand
    return [
        NearDuplicate(ids_sorted[x], ids_sorted[lab], -closest[x][0], ids_sorted[closest[x][1]])
        for x, lab in sorted(labels.items())
        if lab != x
    ]
