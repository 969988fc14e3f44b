"""Deterministic synthetic code corpora with planted near-duplicates, for quality tests and benchmarks.

Each base document is a small Python-like module drawn from a fixed vocabulary; a planted copy
applies token edits (substitutions, insertions, deletions) at a chosen rate, so the corpus spans
Jaccard similarities on both sides of any threshold. Ground truth is exact Jaccard, computed by
the caller; nothing here depends on global random state.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

_KEYWORDS = ["def", "return", "if", "else", "for", "in", "while", "with", "as", "try", "except",
             "import", "from", "class", "self", "None", "True", "False", "not", "and", "or", "yield"]
_PUNCT = ["(", ")", ":", ",", ".", "=", "+", "-", "*", "[", "]", "==", "{", "}"]


def _identifier(rng: random.Random) -> str:
    return rng.choice(["get", "set", "load", "parse", "run", "make", "read", "write", "check", "find"]) + (
        f"_{rng.choice(['item', 'value', 'path', 'node', 'row', 'key', 'data', 'result'])}{rng.randrange(2000)}"
    )


def base_document(rng: random.Random, tokens: int = 220) -> list[str]:
    """A code-like token list: roughly one line per 8 tokens, an identifier-heavy vocabulary."""
    names = [_identifier(rng) for _ in range(24)]
    out: list[str] = []
    while len(out) < tokens:
        line = ["def", rng.choice(names), "(", rng.choice(names), ")", ":"] if rng.random() < 0.15 else []
        for _ in range(rng.randint(4, 10)):
            r = rng.random()
            out_tok = rng.choice(names) if r < 0.45 else rng.choice(_KEYWORDS) if r < 0.65 else (
                rng.choice(_PUNCT) if r < 0.92 else str(rng.randrange(100)))
            line.append(out_tok)
        out.extend(line)
        out.append("\n")
    return out[:tokens]


def mutate(rng: random.Random, toks: list[str], rate: float) -> list[str]:
    """Apply token edits at `rate` per token (1/3 each substitution, insertion, deletion)."""
    out: list[str] = []
    for tok in toks:
        if rng.random() < rate:
            op = rng.randrange(3)
            if op == 0:
                out.append(_identifier(rng))
            elif op == 1:
                out.extend([tok, _identifier(rng)])
            # op == 2 deletes the token
        else:
            out.append(tok)
    return out


def render(toks: list[str]) -> str:
    return " ".join(toks).replace(" \n ", "\n")


def planted_corpus(n: int, seed: int = 7, dup_fraction: float = 0.3, tokens: int = 220,
                   max_rate: float = 0.06) -> Iterator[dict]:
    """`n` records {id, text, planted_from}: about `dup_fraction` are edited copies of earlier ones.

    Edit rates are uniform in [0, max_rate]: with 5-gram shingles a rate around 0.03 lands near a
    Jaccard of 0.8, so planted pairs fall on both sides of the usual thresholds.
    """
    rng = random.Random(seed)
    bases: list[tuple[str, list[str]]] = []
    for i in range(n):
        rid = f"doc-{i:08d}"
        if bases and rng.random() < dup_fraction:
            src_id, src_toks = bases[rng.randrange(len(bases))]
            toks = mutate(rng, src_toks, rng.uniform(0.0, max_rate))
            yield {"id": rid, "text": render(toks), "planted_from": src_id}
            continue
        toks = base_document(rng, tokens)
        # Only the latest bases are reused, which keeps generation memory flat at 1M records.
        bases.append((rid, toks))
        if len(bases) > 2048:
            bases.pop(0)
        yield {"id": rid, "text": render(toks), "planted_from": None}
