"""Banding + clustering from precomputed signatures: tracemill's sort-based banding, verification and
components vs datasketch's MinHashLSH (insert every signature, query every signature, union-find)."""

from __future__ import annotations

from datasketch import MinHash, MinHashLSH

from benchmarks.common import row, side_by_side, texts
from tracemill.dedup.bands import choose_bands
from tracemill.dedup.components import components
from tracemill.dedup.lsh import near_duplicates
from tracemill.dedup.quality import losers, score, truth_pairs
from tracemill.dedup.signatures import Signer

SIZES = {"smoke": (600, 300, 1), "quick": (20_000, 3_000, 3), "full": (200_000, 50_000, 3)}  # (docs, baseline docs, repeats)
THRESHOLD = 0.8


def datasketch_clusters(ids, sigs):
    lsh = MinHashLSH(threshold=THRESHOLD, num_perm=128)
    sketches = [MinHash(num_perm=128, hashvalues=s, scheme="affine32") for s in sigs]
    with lsh.insertion_session() as session:
        for rid, m in zip(ids, sketches):
            session.insert(rid, m)
    edges = []
    for rid, m in zip(ids, sketches):
        for other in lsh.query(m):
            if other != rid and m.jaccard(sketches[int(other[1:])]) >= THRESHOLD:
                edges.append((rid, other))
    return components(edges)


def run(size: str) -> dict:
    n, n_base, repeats = SIZES[size]
    docs = texts(n)
    ids = [f"d{i:08d}" for i in range(n)]
    sigs, sets = Signer().sketch(docs, with_sets=True)
    bands, rows_per_band = choose_bands(THRESHOLD, 128)
    results = {}

    def ours(exact: bool):
        def go():
            results[exact] = near_duplicates(ids, sigs, bands, rows_per_band, THRESHOLD,
                                             hash_sets=sets if exact else None)
        return go

    base = side_by_side(n_base, 1, **{"datasketch MinHashLSH + union-find":
                                      lambda: datasketch_clusters(ids[:n_base], sigs[:n_base])})
    m = side_by_side(n, repeats, **{"tracemill banding, estimated verify": ours(False),
                                    "tracemill banding, exact verify": ours(True)})
    base = base["datasketch MinHashLSH + union-find"]
    rows = [row("estimated Jaccard verification", "docs/s", base, m["tracemill banding, estimated verify"], "rate",
                100_000, ">= 100,000 docs/s/core"),
            row("exact Jaccard verification", "docs/s", base, m["tracemill banding, exact verify"], "rate",
                100_000, ">= 100,000 docs/s/core")]
    # Quality on a slice small enough for exhaustive ground truth.
    k = 3000
    truth = losers(truth_pairs(ids[:k], sets[:k], THRESHOLD))
    table = []
    for label, exact in (("exact verify", True), ("estimated verify", False)):
        found = {d.record_id for d in near_duplicates(ids[:k], sigs[:k], bands, rows_per_band, THRESHOLD,
                                                      hash_sets=sets[:k] if exact else None)}
        q = score(found, truth)
        table.append([label, f"{q.precision:.3f}", f"{q.recall:.3f}", q.actual])
    return {"title": "Banding + clustering", "rows": rows,
            "tables": [{"title": f"Record-level quality vs exact Jaccard >= {THRESHOLD} (first {k:,} documents)",
                        "columns": ["verification", "precision", "recall", "true duplicates"], "rows": table}],
            "notes": [f"datasketch baseline timed on the first {n_base:,} documents (it is slow)",
                      f"LSH shape {bands} bands x {rows_per_band} rows (datasketch's own choice for 0.8 is 9 x 13)",
                      "timed from signatures to keeper decisions: band keys, bucket pairs, verification, components",
                      f"removed as near-duplicates: {len(results[True]):,} of {n:,} (exact verification)"]}
