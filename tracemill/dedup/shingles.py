"""Shingling suited to code: token n-grams over identifiers, numbers and single punctuation marks.

Tokens are defined on UTF-8 bytes: a run of word bytes (ASCII letters, digits, `_`, and every
non-ASCII byte, so non-English identifiers stay whole) or one ASCII punctuation character.
Whitespace and control characters separate tokens and are never tokens, so re-indentation or a
reflowed line does not change a record's shingles; punctuation is, because in code `a.b(c)` and
`a b c` differ.

Each shingle is hashed to 32 bits (the input width of datasketch's default `affine32` MinHash
scheme). `shingle_hash` is the scalar definition, usable as datasketch's `hashfunc`; the batch
functions compute exactly the same values with numpy over many texts at once: token hashes are
polynomial hashes of the token's bytes taken from prefix sums over the whole batch, so no Python
code runs per token (tests prove the equality).
"""

from __future__ import annotations

import re
import threading

import numpy as np

SEPARATOR = "\x1f"  # joins a shingle's tokens into one string; a control character is never in a token
_WORD = rb"A-Za-z0-9_\x80-\xff"
TOKEN_RE = re.compile(rb"[" + _WORD + rb"]+|[^" + _WORD + rb"\x00-\x20\x7f]")

_MASK64 = (1 << 64) - 1
_P = 0x100000001B3  # FNV-64 prime: odd, so it has an inverse modulo 2^64
_P_INV = pow(_P, -1, 1 << 64)
_MULT_INT = 0x9E3779B97F4A7C15  # golden-ratio multiplier for combining token hashes into a shingle
_LEN_MULT_INT = 0xC2B2AE3D27D4EB4F
_MULT, _LEN_MULT = np.uint64(_MULT_INT), np.uint64(_LEN_MULT_INT)
_FMIX1, _FMIX2 = np.uint64(0xFF51AFD7ED558CCD), np.uint64(0xC4CEB9FE1A85EC53)
_S33, _S32 = np.uint64(33), np.uint64(32)

# Byte classes: 0 separator (whitespace, control), 1 word byte, 2 punctuation (a token by itself).
_CLASS = np.zeros(256, dtype=np.uint8)
_CLASS[0x21:0x7F] = 2
for _c in b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_":
    _CLASS[_c] = 1
_CLASS[0x80:] = 1

# (P^i, P^-i) tables as one tuple, replaced whole: Beam runs DoFns in threads, and a reader must
# never pair a grown table with a stale one.
_tables = (np.ones(1, dtype=np.uint64), np.ones(1, dtype=np.uint64))
_tables_lock = threading.Lock()


def _power_tables(n: int) -> tuple[np.ndarray, np.ndarray]:
    """P^i and P^-i (mod 2^64) for i < n, grown geometrically and kept per process."""
    global _tables
    tables = _tables
    if len(tables[0]) >= n:
        return tables
    with _tables_lock:
        if len(_tables[0]) < n:
            size = max(n, 2 * len(_tables[0]), 1 << 16)
            base = np.full(size, _P, dtype=np.uint64)
            base[0] = 1
            powers = np.cumprod(base, dtype=np.uint64)  # wraps modulo 2^64
            base[1:] = _P_INV
            _tables = (powers, np.cumprod(base, dtype=np.uint64))
        return _tables


def _fmix64_int(h: int) -> int:
    h ^= h >> 33
    h = (h * 0xFF51AFD7ED558CCD) & _MASK64
    h ^= h >> 33
    h = (h * 0xC4CEB9FE1A85EC53) & _MASK64
    return h ^ (h >> 33)


def _fmix64(h: np.ndarray) -> np.ndarray:
    h ^= h >> _S33
    h *= _FMIX1
    h ^= h >> _S33
    h *= _FMIX2
    h ^= h >> _S33
    return h


def tokens(text: str) -> list[str]:
    """Word runs and single punctuation characters, in order."""
    return [t.decode("utf-8", errors="surrogatepass") for t in TOKEN_RE.findall(text.encode("utf-8", errors="surrogatepass"))]


def token_hash(token: str) -> int:
    """A stable 64-bit hash of one token: a polynomial over its UTF-8 bytes, its length, a finalizer."""
    data = token.encode("utf-8", errors="surrogatepass")
    h, p = 0, 1
    for b in data:
        h = (h + b * p) & _MASK64
        p = (p * _P) & _MASK64
    return _fmix64_int((h + len(data) * _LEN_MULT_INT) & _MASK64)


def shingles(text: str, ngram: int = 5) -> list[str]:
    """Token n-grams joined by SEPARATOR; a text shorter than `ngram` tokens is one shingle."""
    toks = tokens(text)
    if not toks:
        return []
    if len(toks) <= ngram:
        return [SEPARATOR.join(toks)]
    return [SEPARATOR.join(toks[i : i + ngram]) for i in range(len(toks) - ngram + 1)]


def _combine(token_hashes) -> int:
    h = 0
    for t in token_hashes:
        h = (h * _MULT_INT + t) & _MASK64
    return _fmix64_int(h)


def shingle_hash(shingle: str | bytes) -> int:
    """32-bit hash of one shingle: polynomial over its token hashes, a 64-bit finalizer, the top half.

    The scalar definition of what the batch functions compute; usable as datasketch's `hashfunc`
    on SEPARATOR-joined shingles (str or UTF-8 bytes).
    """
    if isinstance(shingle, bytes):
        shingle = shingle.decode("utf-8", errors="surrogatepass")
    return _combine(token_hash(t) for t in shingle.split(SEPARATOR)) >> 32


def _batch_token_hashes(texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(token hashes of all texts end to end, tokens per text)."""
    encoded = [t.encode("utf-8", errors="surrogatepass") for t in texts]
    # A newline after every text: a separator byte, so no token straddles two texts.
    buf = np.frombuffer(b"\n".join(encoded) + b"\n", dtype=np.uint8)
    cls = _CLASS[buf]
    word = cls == 1
    punct = cls == 2
    prev_word = np.empty_like(word)
    prev_word[0] = False
    prev_word[1:] = word[:-1]
    next_word = np.empty_like(word)
    next_word[-1] = False
    next_word[:-1] = word[1:]
    starts = np.flatnonzero(punct | (word & ~prev_word))
    ends = np.flatnonzero(punct | (word & ~next_word)) + 1
    powers, inverse = _power_tables(len(buf) + 1)
    prefix = np.empty(len(buf) + 1, dtype=np.uint64)
    prefix[0] = 0
    np.cumsum(buf.astype(np.uint64) * powers[: len(buf)], out=prefix[1:])  # wraps modulo 2^64
    # sum_{i in token} b_i * P^(i - start): the prefix difference shifted back to position zero.
    h = (prefix[ends] - prefix[starts]) * inverse[starts]
    h += (ends - starts).astype(np.uint64) * _LEN_MULT
    h = _fmix64(h)
    text_ends = np.cumsum(np.fromiter((len(e) + 1 for e in encoded), dtype=np.int64, count=len(encoded)))
    per_text = np.diff(np.concatenate(([0], np.searchsorted(starts, text_ends))))
    return h, per_text


def batch_ngram_hashes64(texts: list[str], ngram: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """64-bit token n-gram hashes of many texts: (flat uint64 array in text order, per-text counts).

    Repeats are kept. A text with fewer than `ngram` tokens (but at least one) has one n-gram made
    of all its tokens, as in `shingles`.
    """
    th, lengths = _batch_token_hashes(texts)
    counts = np.where(lengths >= ngram, lengths - ngram + 1, np.minimum(lengths, 1))
    total = len(th)
    if not total:
        return np.empty(0, dtype=np.uint64), counts
    padded = np.concatenate([th, np.zeros(ngram, dtype=np.uint64)])
    h = np.zeros(total, dtype=np.uint64)
    for j in range(ngram):
        h *= _MULT
        h += padded[j : j + total]
    starts = np.concatenate(([0], np.cumsum(lengths)[:-1]))
    long_texts = lengths >= ngram
    pos = np.arange(total) - np.repeat(starts, lengths)
    valid = np.repeat(long_texts, lengths) & (pos < np.repeat(counts, lengths))
    out = _fmix64(h[valid])
    short = np.flatnonzero((lengths > 0) & ~long_texts)
    if len(short):
        # Texts shorter than one n-gram are a single n-gram of all their tokens (rare: scalar path).
        merged = np.empty(int(counts.sum()), dtype=np.uint64)
        merged[np.repeat(long_texts, counts)] = out
        out_starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
        merged[out_starts[short]] = [_combine(th[starts[d] : starts[d] + lengths[d]].tolist()) for d in short]
        out = merged
    return out, counts


def batch_shingle_hashes(texts: list[str], ngram: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """32-bit shingle hashes (`shingle_hash`) of many texts: (flat uint32, per-text counts)."""
    h, counts = batch_ngram_hashes64(texts, ngram)
    return (h >> _S32).astype(np.uint32), counts


def sorted_unique(values: np.ndarray) -> np.ndarray:
    # Sort + neighbour comparison: several times faster here than np.unique's hash-table path.
    out = np.sort(values)
    if len(out) > 1:
        out = out[np.concatenate(([True], out[1:] != out[:-1]))]
    return out


def shingle_hashes(text: str, ngram: int = 5) -> np.ndarray:
    """The set of shingle hashes of `text` as a sorted, unique uint32 array (may be empty)."""
    return sorted_unique(batch_shingle_hashes([text], ngram)[0])


def ngram_hashes64(text: str, ngram: int) -> np.ndarray:
    """Sorted unique 64-bit token n-gram hashes, for large overlap indexes where 32 bits would collide."""
    return sorted_unique(batch_ngram_hashes64([text], ngram)[0])


def split_unique(flat: np.ndarray, counts: np.ndarray) -> list[np.ndarray]:
    """Per-text sorted unique uint32 hash sets from `batch_shingle_hashes` output, with one global sort."""
    doc = np.repeat(np.arange(len(counts), dtype=np.uint64), counts)
    keyed = sorted_unique((doc << _S32) | flat.astype(np.uint64))
    doc_ids = (keyed >> _S32).astype(np.int64)
    bounds = np.searchsorted(doc_ids, np.arange(len(counts) + 1))
    values = (keyed & np.uint64(0xFFFFFFFF)).astype(np.uint32)
    return [values[bounds[i] : bounds[i + 1]] for i in range(len(counts))]
