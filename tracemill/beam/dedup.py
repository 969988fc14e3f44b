"""Dedup stages as keyed Beam composites: exact content hash, then MinHash LSH near-duplicates.

Both route every input record to exactly one of `kept` (the record unchanged), `rejected`
(a `rejection` record with `duplicate_of` and the similarity) or `dead` (the text function
raised). No step holds more than one key's group in memory: a content hash's records, a band
bucket's ids, one node's candidate edges or one duplicate cluster (see tracemill.dedup.components).
Decisions depend only on ids and content, never on bundle order, so reruns are identical.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterable

import apache_beam as beam
import numpy as np
from apache_beam import pvalue
from apache_beam.metrics import Metrics

from tracemill.beam.stage import DEAD, KEPT, REJECTED
from tracemill.dedup import components as cc
from tracemill.dedup.bands import band_keys, choose_bands
from tracemill.dedup.signatures import Signer
from tracemill.dedup.similarity import estimated_jaccard, exact_jaccard
from tracemill.records import Rejection, dead_letter_record, origin, record_id, rejection_record

log = logging.getLogger(__name__)
VERIFY_MODES = ("exact", "estimated")
DEFAULT_MAX_BUCKET = 100


class Outputs(dict):
    """The tagged outputs of a dedup composite: `out[KEPT]` or `out.kept`."""

    def __getattr__(self, name: str):
        try:
            return self[name]
        except KeyError as exc:
            raise AttributeError(name) from exc


def keeper_order(record: dict, id_fn: Callable[[dict], str] = record_id) -> tuple:
    """Sort key choosing a keeper: smallest id, then input file and line to break id ties."""
    o = origin(record)
    line = o.get("line")
    return id_fn(record), str(o.get("source") or ""), line if isinstance(line, int) else -1


class _CheckText(beam.DoFn):
    """Pass records whose dedup text can be computed; dead-letter the others."""

    def __init__(self, stage: str, text_fn: Callable[[dict], str]):
        self._stage, self._text_fn = stage, text_fn

    def process(self, record):
        try:
            text = self._text_fn(record)
            if not isinstance(text, str):
                raise TypeError(f"dedup text must be str, got {type(text).__name__}")
        except Exception as exc:  # noqa: BLE001 - a bad record is dead-lettered, never fatal
            yield pvalue.TaggedOutput(DEAD, dead_letter_record(record, self._stage, exc))
            return
        yield record


def _check_text(pcoll, stage: str, text_fn: Callable[[dict], str]):
    return pcoll | "CheckText" >> beam.ParDo(_CheckText(stage, text_fn)).with_outputs(DEAD, main=KEPT)


# ---------------------------------------------------------------------------------------------
# Exact duplicates


def content_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class _RouteExact(beam.DoFn):
    def __init__(self, stage: str, id_fn: Callable[[dict], str]):
        self._stage, self._id_fn = stage, id_fn

    def process(self, element):
        _, grouped = element
        keeper = next(iter(grouped["keeper"]))
        # Records are streamed, not sorted: a hash shared by a million records costs no memory.
        for rec in grouped["rec"]:
            if keeper_order(rec, self._id_fn) == keeper:
                yield rec
            else:
                rej = Rejection(reason="exact_duplicate", disposition="deduplicated",
                                duplicate_of=keeper[0], similarity=1.0)
                yield pvalue.TaggedOutput(REJECTED, rejection_record(rec, self._stage, rej))


class DedupExact(beam.PTransform):
    """Records whose `key_fn` text is identical: the smallest id is kept, the rest rejected."""

    def __init__(self, stage: str, key_fn: Callable[[dict], str], id_fn: Callable[[dict], str] = record_id):
        super().__init__(label=stage)
        self.stage, self.key_fn, self.id_fn = stage, key_fn, id_fn

    def expand(self, records):
        key_fn, id_fn = self.key_fn, self.id_fn
        checked = _check_text(records, self.stage, key_fn)
        by_hash = checked[KEPT] | "KeyByContentHash" >> beam.Map(lambda r: (content_hash(key_fn(r)), r))
        keepers = (
            by_hash
            | "KeeperCandidates" >> beam.Map(lambda kv: (kv[0], keeper_order(kv[1], id_fn)))
            | "SmallestId" >> beam.CombinePerKey(min)
        )
        routed = (
            {"rec": by_hash, "keeper": keepers}
            | "JoinKeeper" >> beam.CoGroupByKey()
            | "Route" >> beam.ParDo(_RouteExact(self.stage, id_fn)).with_outputs(REJECTED, main=KEPT)
        )
        return Outputs({KEPT: routed[KEPT], REJECTED: routed[REJECTED], DEAD: checked[DEAD]})


# ---------------------------------------------------------------------------------------------
# Near duplicates


class _Sketch(beam.DoFn):
    """A batch of records -> (id, (signature bytes, shingle-hash bytes | None, band keys))."""

    def __init__(self, text_fn, id_fn, num_perm: int, seed: int, ngram: int, bands: int, rows: int,
                 keep_hashes: bool):
        self._text_fn, self._id_fn = text_fn, id_fn
        self._args = (num_perm, seed, ngram)
        self._bands, self._rows, self._keep_hashes = bands, rows, keep_hashes
        self._signer: Signer | None = None

    def setup(self):
        self._signer = Signer(*self._args)

    def process(self, batch):
        hash_sets = self._signer.hashes([self._text_fn(r) for r in batch])
        sigs = self._signer.from_hashes(hash_sets)
        keys = band_keys(sigs, self._bands, self._rows)
        for rec, hashes, sig, row_keys in zip(batch, hash_sets, sigs, keys):
            # A record with no tokens has no shingles: it is never a near-duplicate of anything.
            bucket_keys = tuple(int(k) for k in row_keys) if len(hashes) else ()
            payload = hashes.tobytes() if self._keep_hashes else None
            yield self._id_fn(rec), (sig.tobytes(), payload, bucket_keys)


def bucket_pairs(key_and_ids, max_bucket: int = DEFAULT_MAX_BUCKET) -> Iterable[tuple[str, str]]:
    """Candidate pairs (a < b) from one band bucket.

    Every pair up to `max_bucket` members; above that each member is paired only with the
    `max_bucket` smallest ids, so a bucket of n costs O(n * max_bucket) rather than O(n^2).
    """
    _, ids = key_and_ids
    members = sorted(set(ids))
    if len(members) > max_bucket:
        Metrics.counter("dedup", "oversized_buckets").inc()
    anchors = members[:max_bucket]
    for i, a in enumerate(anchors):
        for b in members[i + 1 :]:
            yield a, b


class _SendSketch(beam.DoFn):
    """For node a: its sketch to each candidate partner b (first half of the edge join)."""

    def process(self, element):
        a, grouped = element
        sketches = list(grouped["sketch"])
        if not sketches:
            return
        sketch = sketches[0]
        for b in sorted(set(grouped["edge"])):
            yield b, (a, sketch)


class _Verify(beam.DoFn):
    """For node b: the similarity to each partner a; edges at or above the threshold survive."""

    def __init__(self, threshold: float, verify: str):
        self._threshold, self._verify = threshold, verify

    def process(self, element):
        b, grouped = element
        sketches = list(grouped["sketch"])
        if not sketches:
            return
        sig_b, hashes_b, _ = sketches[0]
        for a, (sig_a, hashes_a, _) in grouped["partner"]:
            if self._verify == "exact":
                sim = exact_jaccard(np.frombuffer(hashes_a, np.uint32), np.frombuffer(hashes_b, np.uint32))
            else:
                sim = estimated_jaccard(np.frombuffer(sig_a, np.uint32), np.frombuffer(sig_b, np.uint32))
            Metrics.counter("dedup", "candidate_pairs").inc()
            if sim >= self._threshold:
                Metrics.counter("dedup", "verified_pairs").inc()
                yield a, b, round(sim, 6)


def _closest(items: Iterable[tuple[float, str]]) -> tuple[float, str]:
    # (-similarity, neighbour): min is the most similar neighbour, ties to the smaller id.
    return min(items)


class _RouteNear(beam.DoFn):
    def __init__(self, stage: str):
        self._stage = stage

    def process(self, element):
        node, grouped = element
        labels, links = list(grouped["label"]), list(grouped["link"])
        for rec in grouped["rec"]:
            keeper = labels[0] if labels else node
            if keeper == node:
                yield rec
                continue
            neg_sim, nearest = links[0]
            rej = Rejection(reason="near_duplicate", disposition="deduplicated", duplicate_of=keeper,
                            similarity=-neg_sim, detail=f"nearest={nearest}")
            yield pvalue.TaggedOutput(REJECTED, rejection_record(rec, self._stage, rej))


class _CountUnconverged(beam.DoFn):
    def process(self, element):
        node, grouped = element
        own = list(grouped["own"])
        for a_label in grouped["a_label"]:
            if own and a_label != own[0]:
                Metrics.counter("dedup", "unconverged_edges").inc()
                log.warning("near-dup clusters of %s did not converge; raise `rounds`", node)
        return ()


class DedupNearDuplicates(beam.PTransform):
    """MinHash LSH near-duplicate removal; losers are rejected with their cluster's keeper.

    threshold: Jaccard similarity (of token `ngram` shingle sets) at or above which two records
        are duplicates. verify: "exact" compares shingle sets, "estimated" compares signatures.
    bands/rows: LSH shape; by default `choose_bands` picks one with >= 99.5% candidate recall at
        the threshold. rounds: Hash-to-Min rounds for connected components.
    """

    def __init__(self, stage: str, text_fn: Callable[[dict], str], threshold: float = 0.8,
                 num_perm: int = 128, ngram: int = 5, seed: int = 1, id_fn: Callable[[dict], str] = record_id,
                 verify: str = "exact", bands: int | None = None, rows: int | None = None,
                 rounds: int = cc.DEFAULT_ROUNDS, max_bucket: int = DEFAULT_MAX_BUCKET,
                 check_convergence: bool = True):
        super().__init__(label=stage)
        if verify not in VERIFY_MODES:
            raise ValueError(f"verify must be one of {VERIFY_MODES}, got {verify!r}")
        if (bands is None) != (rows is None):
            raise ValueError("give both bands and rows, or neither")
        if bands is None:
            bands, rows = choose_bands(threshold, num_perm)
        if bands * rows > num_perm:
            raise ValueError(f"bands*rows = {bands * rows} exceeds num_perm = {num_perm}")
        self.stage, self.text_fn, self.id_fn = stage, text_fn, id_fn
        self.threshold, self.num_perm, self.ngram, self.seed = threshold, num_perm, ngram, seed
        self.verify, self.bands, self.rows = verify, bands, rows
        self.rounds, self.max_bucket, self.check_convergence = rounds, max_bucket, check_convergence

    def expand(self, records):
        id_fn, max_bucket = self.id_fn, self.max_bucket
        checked = _check_text(records, self.stage, self.text_fn)
        valid = checked[KEPT]
        sketches = (
            valid
            | "Batch" >> beam.BatchElements(min_batch_size=16, max_batch_size=256)
            | "Sketch" >> beam.ParDo(_Sketch(self.text_fn, id_fn, self.num_perm, self.seed, self.ngram,
                                             self.bands, self.rows, self.verify == "exact"))
        )
        candidates = (
            sketches
            | "BandKeys" >> beam.FlatMap(lambda kv: ((key, kv[0]) for key in kv[1][2]))
            | "GroupByBand" >> beam.GroupByKey()
            | "BucketPairs" >> beam.FlatMap(bucket_pairs, max_bucket=max_bucket)
            | "DistinctPairs" >> beam.Distinct()
        )
        partners = (
            {"edge": candidates, "sketch": sketches}
            | "JoinFirst" >> beam.CoGroupByKey()
            | "SendSketch" >> beam.ParDo(_SendSketch())
        )
        edges = (
            {"partner": partners, "sketch": sketches}
            | "JoinSecond" >> beam.CoGroupByKey()
            | "Verify" >> beam.ParDo(_Verify(self.threshold, self.verify))
        )
        labels = self._components(edges)
        links = (
            edges
            | "BothEnds" >> beam.FlatMap(lambda e: [(e[0], (-e[2], e[1])), (e[1], (-e[2], e[0]))])
            | "ClosestLink" >> beam.CombinePerKey(_closest)
        )
        if self.check_convergence:
            self._check(edges, labels)
        routed = (
            {"rec": valid | "KeyById" >> beam.Map(lambda r: (id_fn(r), r)), "label": labels, "link": links}
            | "JoinLabels" >> beam.CoGroupByKey()
            | "Route" >> beam.ParDo(_RouteNear(self.stage)).with_outputs(REJECTED, main=KEPT)
        )
        return Outputs({KEPT: routed[KEPT], REJECTED: routed[REJECTED], DEAD: checked[DEAD]})

    def _components(self, edges):
        clusters = (
            edges
            | "Adjacency" >> beam.FlatMap(lambda e: [(e[0], e[1]), (e[1], e[0])])
            | "GroupNeighbours" >> beam.GroupByKey()
            | "InitialClusters" >> beam.MapTuple(cc.initial_clusters)
        )
        for i in range(self.rounds):
            clusters = (
                clusters
                | f"HashToMin{i}/Send" >> beam.FlatMapTuple(cc.hash_to_min_messages)
                | f"HashToMin{i}/Group" >> beam.GroupByKey()
                | f"HashToMin{i}/Merge" >> beam.MapTuple(cc.merge_messages)
            )
        return clusters | "Label" >> beam.MapTuple(cc.label)

    def _check(self, edges, labels):
        # An edge whose ends carry different labels means the unrolled rounds were too few.
        ends = (
            {"edge": edges | "EdgeByA" >> beam.Map(lambda e: (e[0], e[1])), "label": labels}
            | "JoinLabelA" >> beam.CoGroupByKey()
            | "LabelToB" >> beam.FlatMap(lambda kv: ((b, lab) for lab in kv[1]["label"] for b in kv[1]["edge"]))
        )
        _ = (
            {"a_label": ends, "own": labels}
            | "JoinLabelB" >> beam.CoGroupByKey()
            | "CountUnconverged" >> beam.ParDo(_CountUnconverged())
        )
