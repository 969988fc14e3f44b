"""The plain dedup functions: shingles, datasketch-equal signatures, band keys, components."""

from __future__ import annotations

import random

import numpy as np
import pytest
from datasketch import MinHash

from tracemill.dedup import components as cc
from tracemill.dedup.bands import KEY_MASK, band_keys, candidate_probability, choose_bands
from tracemill.dedup.corpus import base_document, mutate, planted_corpus, render
from tracemill.dedup.shingles import SEPARATOR, shingle_hash, shingle_hashes, shingles, tokens
from tracemill.dedup.signatures import EMPTY, Signer, datasketch_minhash, permutations
from tracemill.dedup.similarity import containment, estimated_jaccard, exact_jaccard


def test_tokens_split_code_into_identifiers_numbers_and_punctuation():
    assert tokens("x.append(f(42))  # ok") == ["x", ".", "append", "(", "f", "(", "42", ")", ")", "#", "ok"]


def test_layout_does_not_change_shingles():
    assert shingles("def f(a):\n    return a", 3) == shingles("def f( a ):  return   a", 3)


def test_short_text_is_one_shingle_and_empty_text_none():
    assert shingles("a + b", 5) == [SEPARATOR.join(["a", "+", "b"])]
    assert shingles("   ", 5) == []
    assert len(shingle_hashes("", 5)) == 0


def test_vectorised_shingle_hashes_equal_the_scalar_definition():
    text = render(base_document(random.Random(1), 150))
    assert shingle_hashes(text).tolist() == sorted({shingle_hash(s) for s in shingles(text)})


def _texts():
    rng = random.Random(11)
    base = [render(base_document(rng, rng.randint(1, 400))) for _ in range(40)]
    return base + [render(mutate(rng, base[0], 0.05)), "", "x", "ünïcode = '名前' + 1"]


@pytest.mark.parametrize("num_perm,seed", [(128, 1), (64, 42)])
def test_fast_signatures_equal_datasketch_minhash(num_perm, seed):
    texts = _texts()
    fast = Signer(num_perm=num_perm, seed=seed).signatures(texts)
    for text, sig in zip(texts, fast):
        reference = datasketch_minhash(text, num_perm=num_perm, seed=seed)
        assert reference.hashvalues.dtype == np.uint32
        assert np.array_equal(reference.hashvalues, sig)


def test_fast_signatures_equal_datasketch_fed_precomputed_hashes():
    # The same equality through datasketch's byte path: its hashfunc applied to UTF-8 shingles.
    text = _texts()[3]
    m = MinHash(num_perm=128, seed=1, hashfunc=shingle_hash)
    m.update_batch([s.encode("utf-8") for s in shingles(text)])
    assert np.array_equal(m.hashvalues, Signer().signature(text))


def test_signature_batches_of_any_size_match_one_by_one():
    texts = _texts()
    signer = Signer()
    batch = signer.signatures(texts)
    assert all(np.array_equal(batch[i], signer.signature(t)) for i, t in enumerate(texts))
    assert (signer.signature("") == EMPTY).all()


def test_permutations_are_datasketchs():
    a, b = permutations(128, 1)
    ref = MinHash(num_perm=128, seed=1).permutations
    assert np.array_equal(a, ref[0]) and np.array_equal(b, ref[1])


def test_estimated_jaccard_tracks_exact_jaccard():
    rng = random.Random(5)
    base = base_document(rng, 400)
    signer = Signer(num_perm=256)
    for rate in (0.0, 0.02, 0.05, 0.1):
        a, b = render(base), render(mutate(rng, base, rate))
        exact = exact_jaccard(shingle_hashes(a), shingle_hashes(b))
        sa, sb = signer.signatures([a, b])
        assert abs(estimated_jaccard(sa, sb) - exact) < 0.1


def test_exact_jaccard_and_containment():
    a, b = np.array([1, 2, 3, 4], np.uint32), np.array([3, 4, 5], np.uint32)
    assert exact_jaccard(a, b) == pytest.approx(2 / 5)
    assert containment(b, a) == pytest.approx(2 / 3)
    assert exact_jaccard(np.empty(0, np.uint32), np.empty(0, np.uint32)) == 0.0


def test_choose_bands_queries_lower_than_datasketch():
    bands, rows = choose_bands(0.8, 128)
    assert bands * rows <= 128
    assert candidate_probability(0.8, bands, rows) >= 0.995
    # datasketch's equal-weight optimum for 0.8 / 128 is 9 bands x 13 rows: ~40% at J = 0.8.
    assert candidate_probability(0.8, 9, 13) < 0.5


def test_band_keys_are_63_bit_and_shared_only_by_equal_bands():
    sigs = Signer().signatures(["a b c d e f g", "a b c d e f g", "totally different text here ok"])
    keys = band_keys(sigs, 21, 6)
    assert keys.shape == (3, 21) and keys.dtype == np.int64
    assert (keys >= 0).all() and (keys.astype(np.uint64) <= KEY_MASK).all()
    assert (keys[0] == keys[1]).all() and not (keys[0] == keys[2]).any()
    # The band index is mixed in: identical rows in two different bands give different keys.
    same = np.zeros((1, 12), np.uint32)
    k = band_keys(same, 2, 6)
    assert k[0, 0] != k[0, 1]


def test_components_label_each_node_with_its_smallest_member():
    edges = [("d", "b"), ("b", "c"), ("x", "y"), ("e", "d")]
    assert cc.components(edges) == {"b": "b", "c": "b", "d": "b", "e": "b", "x": "x", "y": "x"}


def test_hash_to_min_agrees_with_union_find_on_random_graphs():
    rng = random.Random(2)
    for _ in range(30):
        edges = [(f"{rng.randrange(80):03d}", f"{rng.randrange(80):03d}") for _ in range(rng.randint(5, 90))]
        labels = cc.hash_to_min(edges)
        assert labels == cc.components(edges)
        assert cc.unconverged(edges, labels) == 0


def test_hash_to_min_too_few_rounds_is_detected():
    path = [(f"{i:04d}", f"{i + 1:04d}") for i in range(300)]
    assert cc.unconverged(path, cc.hash_to_min(path, rounds=2)) > 0
    assert cc.unconverged(path, cc.hash_to_min(path, rounds=cc.DEFAULT_ROUNDS)) == 0


def test_planted_corpus_is_deterministic():
    assert list(planted_corpus(50, seed=3)) == list(planted_corpus(50, seed=3))
    assert list(planted_corpus(50, seed=3)) != list(planted_corpus(50, seed=4))
