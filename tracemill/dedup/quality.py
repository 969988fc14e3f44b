"""Near-dup quality against ground truth: all pairs at or above a threshold by exact Jaccard.

The truth is computed exhaustively (a sparse shingle-incidence product gives every pair's
intersection), so it is meant for evaluation corpora of a few thousand records.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import sparse

from tracemill.dedup.components import components


def truth_pairs(ids: Sequence[str], hash_sets: Sequence[np.ndarray], threshold: float) -> set[tuple[str, str]]:
    """Every (a, b), a < b, whose exact Jaccard is >= threshold (empty sets match nothing)."""
    lengths = np.array([len(h) for h in hash_sets], dtype=np.int64)
    cols = np.concatenate([h.astype(np.int64) for h in hash_sets]) if len(hash_sets) else np.empty(0, np.int64)
    _, cols = np.unique(cols, return_inverse=True)
    rows = np.repeat(np.arange(len(hash_sets)), lengths)
    m = sparse.csr_matrix((np.ones(len(cols), dtype=np.int32), (rows, cols)),
                          shape=(len(hash_sets), int(cols.max()) + 1 if len(cols) else 0))
    inter = sparse.triu(m @ m.T, k=1).tocoo()
    union = lengths[inter.row] + lengths[inter.col] - inter.data
    jac = np.round(inter.data / union, 6)  # the same rounding the dedup stages apply
    hit = jac >= threshold
    out = set()
    for i, j in zip(inter.row[hit].tolist(), inter.col[hit].tolist()):
        a, b = ids[i], ids[j]
        out.add((a, b) if a < b else (b, a))
    return out


def losers(pairs: Iterable[tuple[str, str]]) -> set[str]:
    """Records that are not their cluster's keeper, given duplicate pairs."""
    return {node for node, label in components(pairs).items() if node != label}


@dataclass(frozen=True)
class Quality:
    precision: float
    recall: float
    true_positives: int
    predicted: int
    actual: int

    def as_dict(self) -> dict:
        return {"precision": self.precision, "recall": self.recall, "true_positives": self.true_positives,
                "predicted": self.predicted, "actual": self.actual}


def score(predicted: set, actual: set) -> Quality:
    tp = len(predicted & actual)
    return Quality(precision=tp / len(predicted) if predicted else 1.0,
                   recall=tp / len(actual) if actual else 1.0,
                   true_positives=tp, predicted=len(predicted), actual=len(actual))
