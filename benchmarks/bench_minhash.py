"""MinHash signatures from text: datasketch (per-shingle `update`, `update_batch`) vs tracemill's
vectorised path, standalone and inside a Beam pipeline. Same shingles (token 5-grams), 128
permutations, seed 1; documents of ~400 code tokens."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import apache_beam as beam
from datasketch import MinHash

from benchmarks.common import beam_args, row, side_by_side, texts, write_jsonl
from tracemill.beam.dedup import _Sketch
from tracemill.dedup.bands import choose_bands
from tracemill.dedup.shingles import shingle_hash, shingles
from tracemill.dedup.signatures import Signer
from tracemill.runner import pipeline_options

SIZES = {  # (update docs, update_batch docs, fast docs, beam baseline docs, beam fast docs, repeats)
    "smoke": (20, 50, 300, 50, 300, 1),
    "quick": (200, 1000, 10_000, 1000, 20_000, 3),
    "full": (1000, 5000, 100_000, 5000, 100_000, 5),
}


def datasketch_update(docs):
    for d in docs:
        m = MinHash(num_perm=128, seed=1)
        for s in shingles(d):
            m.update(s.encode("utf-8"))


def datasketch_batch(docs, hashfunc=None):
    for d in docs:
        m = MinHash(num_perm=128, seed=1, **({"hashfunc": hashfunc} if hashfunc else {}))
        m.update_batch([s.encode("utf-8") for s in shingles(d)])


SIGNER = Signer()


def fast(docs, signer=SIGNER):
    # Batches of 256 texts, as the Beam stage uses (BatchElements max_batch_size).
    for i in range(0, len(docs), 256):
        signer.signatures(docs[i : i + 256])


def _ds_sign(record):
    m = MinHash(num_perm=128, seed=1)
    m.update_batch([s.encode("utf-8") for s in shingles(record["text"])])
    return m.hashvalues


def beam_pipeline(path: Path, candidate: bool):
    def build(p):
        recs = p | "Read" >> beam.io.ReadFromText(str(path)) | "Parse" >> beam.Map(json.loads)
        if candidate:
            bands, rows = choose_bands(0.8, 128)
            sigs = (recs | "Batch" >> beam.BatchElements(min_batch_size=16, max_batch_size=256)
                    | "Sketch" >> beam.ParDo(_Sketch(lambda r: r["text"], lambda r: r["id"], 128, 1, 5, bands, rows,
                                                     False)))
        else:
            sigs = recs | "Sketch" >> beam.Map(_ds_sign)
        _ = sigs | "Count" >> beam.combiners.Count.Globally()

    def run():
        with beam.Pipeline(options=pipeline_options(beam_args())) as p:
            build(p)

    return run


def run(size: str) -> dict:
    n_update, n_batch, n_fast, n_beam_base, n_beam_fast, repeats = SIZES[size]
    docs = texts(max(n_fast, n_beam_fast))
    fast(docs[:512])  # warm the token-hash cache the way a long-running worker is warm
    rows = []
    m = side_by_side(n_update, 1, **{"datasketch update": lambda: datasketch_update(docs[:n_update])})
    b = side_by_side(n_batch, repeats, **{
        "datasketch update_batch": lambda: datasketch_batch(docs[:n_batch]),
        "datasketch update_batch, tracemill hashfunc": lambda: datasketch_batch(docs[:n_batch], shingle_hash)})
    f = side_by_side(n_fast, repeats, **{"tracemill vectorised": lambda: fast(docs[:n_fast])})
    fast_m = f["tracemill vectorised"]
    rows.append(row("standalone, vs per-shingle update", "docs/s", m["datasketch update"], fast_m, "rate",
                    4500, ">= 4,500 docs/s/core"))
    rows.append(row("standalone, vs update_batch", "docs/s", b["datasketch update_batch"], fast_m, "rate",
                    4500, ">= 4,500 docs/s/core"))
    rows.append(row("standalone, vs update_batch with identical signatures", "docs/s",
                    b["datasketch update_batch, tracemill hashfunc"], fast_m, "rate", 4500, ">= 4,500 docs/s/core"))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "docs.jsonl"
        write_jsonl(path, ({"id": f"d{i:08d}", "text": t} for i, t in enumerate(docs[:n_beam_fast])))
        base_path = Path(tmp) / "docs_small.jsonl"
        write_jsonl(base_path, ({"id": f"d{i:08d}", "text": t} for i, t in enumerate(docs[:n_beam_base])))
        beam_repeats = 1 if size == "quick" else 3
        bb = side_by_side(n_beam_base, beam_repeats, **{"Beam + datasketch update_batch": beam_pipeline(base_path, False)})
        bf = side_by_side(n_beam_fast, beam_repeats, **{"Beam + tracemill Sketch stage": beam_pipeline(path, True)})
    rows.append(row("inside Beam (read, parse, sign; DirectRunner)", "docs/s", bb["Beam + datasketch update_batch"],
                    bf["Beam + tracemill Sketch stage"], "rate", 3000, ">= 3,000 docs/s/core"))
    tokens = sum(len(shingles(d)) for d in docs[:200]) / 200
    return {"title": "MinHash signatures", "rows": rows, "notes": [
        f"documents: planted code corpus, ~{tokens:.0f} shingles each; 128 permutations, datasketch affine32 scheme",
        ("`tracemill vectorised` signatures are bit-identical to datasketch `MinHash(hashfunc=shingle_hash)` "
        "(tests/test_dedup_functions.py); the plain datasketch baseline hashes shingles with its default SHA-1"),
        ("Beam figures include reading and parsing the JSONL and the runner's start-up; the Beam baseline runs "
        "on fewer documents because it is slow"),
    ]}
