"""MinHash signatures: datasketch's `affine32` scheme, vectorised over a batch of documents.

`datasketch.MinHash(num_perm, seed, hashfunc=shingle_hash).update_batch(shingles)` is the reference;
`Signer` computes bit-identical signatures (the permutation parameters are read from datasketch
itself, and the MurmurHash3 pre-mix and the affine permutations are the same wrapping uint32
arithmetic) but hashes each token once instead of every shingle, and applies the permutations to
a whole batch of documents in one numpy call. `tests/test_dedup_signatures.py` proves equality.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np
from datasketch import MinHash

from tracemill.dedup.shingles import shingle_hash, shingle_hashes, shingles

EMPTY = np.uint32(0xFFFFFFFF)  # datasketch's initial hash value: the signature of an empty set
_C1, _C2 = np.uint32(0x85EBCA6B), np.uint32(0xC2B2AE35)
_S16, _S13 = np.uint32(16), np.uint32(13)
# Rows of the (shingles x permutations) product per numpy call: ~8 MB at 128 permutations.
_CHUNK_ROWS = 16384


@functools.cache
def permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """datasketch's own (a, b) permutation parameters for (num_perm, seed)."""
    a, b = MinHash(num_perm=num_perm, seed=seed).permutations
    return a.astype(np.uint32), b.astype(np.uint32)


def fmix32(hv: np.ndarray) -> np.ndarray:
    """MurmurHash3's 32-bit finalizer (datasketch applies it before permuting)."""
    hv = hv ^ (hv >> _S16)
    hv = hv * _C1
    hv = hv ^ (hv >> _S13)
    hv = hv * _C2
    return hv ^ (hv >> _S16)


def datasketch_minhash(text: str, num_perm: int = 128, seed: int = 1, ngram: int = 5) -> MinHash:
    """The reference: datasketch's own MinHash over the same shingles and shingle hash."""
    m = MinHash(num_perm=num_perm, seed=seed, hashfunc=shingle_hash)
    m.update_batch(shingles(text, ngram))
    return m


class Signer:
    """Computes MinHash signatures (uint32[num_perm]) for batches of texts."""

    def __init__(self, num_perm: int = 128, seed: int = 1, ngram: int = 5):
        self.num_perm, self.seed, self.ngram = num_perm, seed, ngram
        a, b = permutations(num_perm, seed)
        self._a, self._b = a[:, None], b[:, None]

    def hashes(self, texts: Sequence[str]) -> list[np.ndarray]:
        return [shingle_hashes(t, self.ngram) for t in texts]

    def from_hashes(self, hash_sets: Sequence[np.ndarray]) -> np.ndarray:
        """(len(hash_sets), num_perm) uint32 signatures; an empty set gives all EMPTY."""
        out = np.full((len(hash_sets), self.num_perm), EMPTY, dtype=np.uint32)
        sizes = np.fromiter((len(h) for h in hash_sets), dtype=np.int64, count=len(hash_sets))
        i = 0
        while i < len(hash_sets):
            # Take documents until the chunk is full (at least one, however large it is).
            j, rows = i, 0
            while j < len(hash_sets) and (rows == 0 or rows + sizes[j] <= _CHUNK_ROWS):
                rows += sizes[j]
                j += 1
            nonempty = np.nonzero(sizes[i:j])[0]
            if len(nonempty):
                hv = fmix32(np.concatenate([hash_sets[i + k] for k in nonempty]))
                # Permutations along rows, shingles along columns: the min-reduction then runs over
                # contiguous memory, which is ~40x faster than reducing along axis 0.
                phv = np.multiply(self._a, hv[None, :])
                phv += self._b  # uint32 wraparound is datasketch's modulo 2^32
                starts = np.concatenate(([0], np.cumsum(sizes[i:j][nonempty])[:-1]))
                out[i + nonempty] = np.minimum.reduceat(phv, starts, axis=1).T
            i = j
        return out

    def signatures(self, texts: Sequence[str]) -> np.ndarray:
        return self.from_hashes(self.hashes(texts))

    def signature(self, text: str) -> np.ndarray:
        return self.signatures([text])[0]
