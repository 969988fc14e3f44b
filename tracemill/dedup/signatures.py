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

from tracemill.dedup.shingles import batch_shingle_hashes, shingle_hash, shingles, split_unique

EMPTY = np.uint32(0xFFFFFFFF)  # datasketch's initial hash value: the signature of an empty set
_C1, _C2 = np.uint32(0x85EBCA6B), np.uint32(0xC2B2AE35)
_S16, _S13 = np.uint32(16), np.uint32(13)
# Shingles per numpy call: a (128 x 8192) uint32 product is 4 MB, which measured fastest here.
_CHUNK_ROWS = 8192
TEXT_BATCH = 256  # texts shingled together: big enough to amortise numpy calls, small in memory


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
        """Per-text sorted unique shingle-hash sets (what exact Jaccard compares)."""
        return split_unique(*batch_shingle_hashes(list(texts), self.ngram))

    def from_hashes(self, hash_sets: Sequence[np.ndarray]) -> np.ndarray:
        """(len(hash_sets), num_perm) uint32 signatures; an empty set gives all EMPTY."""
        counts = np.fromiter((len(h) for h in hash_sets), dtype=np.int64, count=len(hash_sets))
        flat = np.concatenate(hash_sets) if len(hash_sets) else np.empty(0, np.uint32)
        return self.from_flat(flat, counts)

    def from_flat(self, flat: np.ndarray, counts: np.ndarray) -> np.ndarray:
        """Signatures from shingle hashes laid end to end (`counts` per text; repeats are harmless)."""
        n = len(counts)
        out = np.full((n, self.num_perm), EMPTY, dtype=np.uint32)
        offsets = np.concatenate(([0], np.cumsum(counts)))
        i = 0
        while i < n:
            # Take texts until the chunk is full (at least one, however large it is).
            j = int(np.searchsorted(offsets, offsets[i] + _CHUNK_ROWS, side="right")) - 1
            j = min(max(j, i + 1), n)
            nonempty = np.flatnonzero(counts[i:j])
            if len(nonempty):
                hv = fmix32(flat[offsets[i] : offsets[j]])
                # Permutations along rows, shingles along columns: the min-reduction then runs over
                # contiguous memory, which is ~40x faster than reducing along axis 0.
                phv = np.multiply(self._a, hv[None, :])
                phv += self._b  # uint32 wraparound is datasketch's modulo 2^32
                starts = offsets[i + nonempty] - offsets[i]
                out[i + nonempty] = np.minimum.reduceat(phv, starts, axis=1).T
            i = j
        return out

    def sketch(self, texts: Sequence[str], with_sets: bool = False):
        """(signatures, per-text unique hash sets or None) for texts, in batches of TEXT_BATCH.

        Batching bounds the working memory (each batch's bytes, token and shingle arrays).
        """
        sigs, sets = [], [] if with_sets else None
        for i in range(0, max(len(texts), 1), TEXT_BATCH):
            flat, counts = batch_shingle_hashes(list(texts[i : i + TEXT_BATCH]), self.ngram)
            sigs.append(self.from_flat(flat, counts))
            if with_sets:
                sets.extend(split_unique(flat, counts))
        return np.concatenate(sigs), sets

    def signatures(self, texts: Sequence[str]) -> np.ndarray:
        return self.sketch(texts)[0]

    def signature(self, text: str) -> np.ndarray:
        return self.signatures([text])[0]
