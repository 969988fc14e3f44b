"""Shingling suited to code: token n-grams over identifiers, numbers and single punctuation marks.

Whitespace and layout are not tokens, so re-indentation or a reflowed line does not change a
record's shingles; punctuation is, because in code `a.b(c)` and `a b c` differ. Each shingle is
hashed to 32 bits (the input width of datasketch's default `affine32` MinHash scheme) by
`shingle_hash`, which is defined on the tokens alone so that both the vectorised path
(`shingle_hashes`) and datasketch's own per-item path (`shingle_hash` as its `hashfunc`) see the
same values.
"""

from __future__ import annotations

import hashlib
import re

import numpy as np

TOKEN_RE = re.compile(r"\w+|[^\w\s]", re.UNICODE)
SEPARATOR = "\x1f"  # joins a shingle's tokens into one string; never inside a token
_MULT = np.uint64(0x9E3779B97F4A7C15)  # golden-ratio multiplier: spreads the polynomial combine
_FMIX1, _FMIX2 = np.uint64(0xFF51AFD7ED558CCD), np.uint64(0xC4CEB9FE1A85EC53)
_S33, _S32 = np.uint64(33), np.uint64(32)
_MASK64 = (1 << 64) - 1

# Token hashes are cached per process: code reuses a small vocabulary, so most lookups hit. The cache
# is cleared when it grows past a bound, which keeps worker memory flat on any corpus.
_TOKEN_CACHE: dict[str, int] = {}
_TOKEN_CACHE_MAX = 1 << 20


def tokens(text: str) -> list[str]:
    """Identifier/number runs and single punctuation characters, in order."""
    return TOKEN_RE.findall(text)


def token_hash(token: str) -> int:
    """A stable 64-bit hash of one token (BLAKE2b; independent of PYTHONHASHSEED)."""
    h = _TOKEN_CACHE.get(token)
    if h is None:
        if len(_TOKEN_CACHE) >= _TOKEN_CACHE_MAX:
            _TOKEN_CACHE.clear()
        h = int.from_bytes(hashlib.blake2b(token.encode("utf-8"), digest_size=8).digest(), "little")
        _TOKEN_CACHE[token] = h
    return h


def shingles(text: str, ngram: int = 5) -> list[str]:
    """Token n-grams joined by SEPARATOR; a text shorter than `ngram` tokens is one shingle."""
    toks = tokens(text)
    if not toks:
        return []
    if len(toks) <= ngram:
        return [SEPARATOR.join(toks)]
    return [SEPARATOR.join(toks[i : i + ngram]) for i in range(len(toks) - ngram + 1)]


def _fmix64_int(h: int) -> int:
    h ^= h >> 33
    h = (h * 0xFF51AFD7ED558CCD) & _MASK64
    h ^= h >> 33
    h = (h * 0xC4CEB9FE1A85EC53) & _MASK64
    return h ^ (h >> 33)


def shingle_hash(shingle: str | bytes) -> int:
    """32-bit hash of one shingle: polynomial over its token hashes, then a 64-bit finalizer.

    This is the scalar definition; `shingle_hashes` computes exactly the same values vectorised.
    Usable as datasketch's `hashfunc` on SEPARATOR-joined shingles (str or UTF-8 bytes).
    """
    if isinstance(shingle, bytes):
        shingle = shingle.decode("utf-8")
    h = 0
    for tok in shingle.split(SEPARATOR):
        h = (h * 0x9E3779B97F4A7C15 + token_hash(tok)) & _MASK64
    return _fmix64_int(h) >> 32


def shingle_hashes(text: str, ngram: int = 5) -> np.ndarray:
    """The set of shingle hashes of `text` as a sorted, unique uint32 array (may be empty)."""
    toks = tokens(text)
    if not toks:
        return np.empty(0, dtype=np.uint32)
    cache = _TOKEN_CACHE
    th = np.array([cache[t] if t in cache else token_hash(t) for t in toks], dtype=np.uint64)
    n = min(ngram, len(toks))
    m = len(toks) - n + 1
    h = np.zeros(m, dtype=np.uint64)
    for j in range(n):  # wrapping uint64 arithmetic is the modulo 2^64 of the scalar definition
        h = h * _MULT + th[j : j + m]
    h ^= h >> _S33
    h *= _FMIX1
    h ^= h >> _S33
    h *= _FMIX2
    h ^= h >> _S33
    return np.unique((h >> _S32).astype(np.uint32))
