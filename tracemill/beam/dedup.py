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

from tracemill.beam.stage import DEAD, KEPT, REJECTED, apply_stage
from tracemill.dedup import components as cc
from tracemill.dedup.bands import band_keys, choose_bands
from tracemill.dedup.signatures import EMPTY, Signer
from tracemill.dedup.similarity import estimated_jaccard, exact_jaccard
from tracemill.records import Rejection, dead_letter_record, origin, record_id, rejection_record

log = logging.getLogger(__name__)
VERIFY_MODES = ("exact", "estimated")
DEFAULT_MAX_BUCKET = 100
# Band keys travel as one element per (batch, partition) instead of one per (record, band): 21x fewer
# shuffle elements, which is most of the stage's cost on a local runner. A partition's group holds
# about records x bands / partitions keys; None shuffles one element per key (memory per group =
# one bucket) for corpora where even that share is too large.
DEFAULT_BAND_PARTITIONS = 64


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


def text_or_error(text_fn: Callable[[dict], str], record: dict) -> str | BaseException:
    """The dedup text of a record, or the exception that computing it raised (to dead-letter)."""
    try:
        text = text_fn(record)
    except Exception as exc:  # noqa: BLE001 - a bad record is dead-lettered, never fatal
        return exc
    if not isinstance(text, str):
        return TypeError(f"dedup text must be str, got {type(text).__name__}")
    return text


def _rejection(record: dict, stage: str, rej: Rejection, id_fn: Callable[[dict], str]) -> dict:
    # The stage's own id function names the record, so `record_id` and `duplicate_of` agree.
    out = rejection_record(record, stage, rej)
    out["record_id"] = id_fn(record)
    return out


# ---------------------------------------------------------------------------------------------
# Exact duplicates


def content_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class _KeyByContent(beam.DoFn):
    """(content hash, record), or the record dead-lettered when its text cannot be computed."""

    def __init__(self, stage: str, key_fn: Callable[[dict], str]):
        self._stage, self._key_fn = stage, key_fn

    def process(self, record):
        text = text_or_error(self._key_fn, record)
        if isinstance(text, BaseException):
            yield pvalue.TaggedOutput(DEAD, dead_letter_record(record, self._stage, text))
        else:
            yield content_hash(text), record


class _RouteExact(beam.DoFn):
    def __init__(self, stage: str, id_fn: Callable[[dict], str], reason: str):
        self._stage, self._id_fn, self._reason = stage, id_fn, reason

    def process(self, element):
        _, grouped = element
        keeper = next(iter(grouped["keeper"]))
        # Records are streamed, not sorted: a hash shared by a million records costs no memory.
        for rec in grouped["rec"]:
            if keeper_order(rec, self._id_fn) == keeper:
                yield rec
            else:
                # Identical content has similarity 1.0; a repeated id says nothing about content.
                sim = 1.0 if self._reason == "exact_duplicate" else None
                rej = Rejection(reason=self._reason, disposition="deduplicated", duplicate_of=keeper[0],
                                similarity=sim)
                yield pvalue.TaggedOutput(REJECTED, _rejection(rec, self._stage, rej, self._id_fn))


class DedupExact(beam.PTransform):
    """Records whose `key_fn` text is identical: the smallest id is kept, the rest rejected.

    Ties between equal ids go to the earlier input file and line. With `key_fn` returning the id
    itself and `reason="duplicate_id"`, the same stage makes ids unique.
    """

    def __init__(self, stage: str, key_fn: Callable[[dict], str], id_fn: Callable[[dict], str] = record_id,
                 reason: str = "exact_duplicate"):
        super().__init__(label=stage)
        self.stage, self.key_fn, self.id_fn, self.reason = stage, key_fn, id_fn, reason

    def expand(self, records):
        id_fn = self.id_fn
        hashed = records | "KeyByContentHash" >> beam.ParDo(_KeyByContent(self.stage, self.key_fn)).with_outputs(
            DEAD, main=KEPT)
        by_hash = hashed[KEPT]
        keepers = (
            by_hash
            | "KeeperCandidates" >> beam.Map(lambda kv: (kv[0], keeper_order(kv[1], id_fn)))
            | "SmallestId" >> beam.CombinePerKey(min)
        )
        routed = (
            {"rec": by_hash, "keeper": keepers}
            | "JoinKeeper" >> beam.CoGroupByKey()
            | "Route" >> beam.ParDo(_RouteExact(self.stage, id_fn, self.reason)).with_outputs(REJECTED, main=KEPT)
        )
        return Outputs({KEPT: routed[KEPT], REJECTED: routed[REJECTED], DEAD: hashed[DEAD]})


# ---------------------------------------------------------------------------------------------
# Near duplicates


FAILED = "failed"


class _Sketch(beam.DoFn):
    """A batch of records -> (id, (signature bytes, shingle-hash bytes | None, band keys)).

    A record whose text cannot be computed is dead-lettered here, and its id goes out on `failed`
    so that the routing join leaves it out (it is accounted for once, as dead).
    """

    def __init__(self, text_fn, id_fn, num_perm: int, seed: int, ngram: int, bands: int, rows: int,
                 keep_hashes: bool, stage: str = "dedup_near", partitions: int | None = None):
        self._text_fn, self._id_fn, self._stage, self._partitions = text_fn, id_fn, stage, partitions
        self._args = (num_perm, seed, ngram)
        self._bands, self._rows, self._keep_hashes = bands, rows, keep_hashes
        self._signer: Signer | None = None

    def setup(self):
        self._signer = Signer(*self._args)

    def process(self, batch):
        good, texts = [], []
        for rec in batch:
            text = text_or_error(self._text_fn, rec)
            if isinstance(text, BaseException):
                yield pvalue.TaggedOutput(DEAD, dead_letter_record(rec, self._stage, text))
                yield pvalue.TaggedOutput(FAILED, (self._id_fn(rec), keeper_order(rec, self._id_fn)))
            else:
                good.append(rec)
                texts.append(text)
        if not good:
            return
        sigs, hash_sets = self._signer.sketch(texts, with_sets=self._keep_hashes)
        keys = band_keys(sigs, self._bands, self._rows)
        # A record with no tokens has no shingles (its signature is all EMPTY): it is never a
        # near-duplicate of anything, so it gets no bucket keys.
        nonempty = ~(sigs == EMPTY).all(axis=1)
        ids = [self._id_fn(rec) for rec in good]
        for i in range(len(good)):
            bucket_keys = tuple(keys[i].tolist()) if nonempty[i] and not self._partitions else ()
            payload = hash_sets[i].tobytes() if hash_sets is not None else None
            yield ids[i], (sigs[i].tobytes(), payload, bucket_keys)
        if self._partitions:
            yield from _partitioned_keys(keys[nonempty], [ids[i] for i in np.flatnonzero(nonempty)],
                                         self._partitions)


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


BUCKETS = "buckets"


def _partitioned_keys(keys: np.ndarray, ids: list[str], partitions: int):
    """A batch's band keys as one element per partition: (partition, (key bytes, ids per key))."""
    if not len(ids):
        return
    flat = keys.ravel()
    owners = np.repeat(np.arange(len(ids)), keys.shape[1])
    part = flat % partitions
    order = np.argsort(part, kind="stable")
    bounds = np.searchsorted(part[order], np.arange(partitions + 1))
    for p in np.flatnonzero(np.diff(bounds)):
        sel = order[bounds[p] : bounds[p + 1]]
        yield pvalue.TaggedOutput(BUCKETS, (int(p), (flat[sel].tobytes(), [ids[o] for o in owners[sel]])))


def partition_pairs(element, max_bucket: int = DEFAULT_MAX_BUCKET) -> Iterable[tuple[str, str]]:
    """Candidate pairs from one partition of band keys: the same pairs `bucket_pairs` gives per key."""
    _, parts = element
    key_arrays, ids = [], []
    for key_bytes, part_ids in parts:
        key_arrays.append(np.frombuffer(key_bytes, dtype=np.int64))
        ids.extend(part_ids)
    if not ids:
        return
    keys = np.concatenate(key_arrays)
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    starts = np.flatnonzero(np.concatenate(([True], sorted_keys[1:] != sorted_keys[:-1])))
    sizes = np.diff(np.concatenate((starts, [len(keys)])))
    # Only keys shared by two or more records are buckets; the rest never leave this function.
    for start, size in zip(starts[sizes > 1].tolist(), sizes[sizes > 1].tolist()):
        yield from bucket_pairs((int(sorted_keys[start]), [ids[i] for i in order[start : start + size]]),
                                max_bucket)


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
    def __init__(self, stage: str, id_fn: Callable[[dict], str]):
        self._stage, self._id_fn = stage, id_fn

    def process(self, element):
        node, grouped = element
        failed = set(grouped["failed"])
        labels, links = list(grouped["label"]), list(grouped["link"])
        for rec in grouped["rec"]:
            if failed and keeper_order(rec, self._id_fn) in failed:
                continue  # already dead-lettered by the Sketch step
            keeper = labels[0] if labels else node
            if keeper == node:
                yield rec
                continue
            neg_sim, nearest = links[0]
            rej = Rejection(reason="near_duplicate", disposition="deduplicated", duplicate_of=keeper,
                            similarity=-neg_sim, detail=f"nearest={nearest}")
            yield pvalue.TaggedOutput(REJECTED, _rejection(rec, self._stage, rej, self._id_fn))


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
                 check_convergence: bool = True, band_partitions: int | None = DEFAULT_BAND_PARTITIONS):
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
        self.band_partitions = band_partitions

    def expand(self, records):
        id_fn, max_bucket = self.id_fn, self.max_bucket
        sketched = (
            records
            | "Batch" >> beam.BatchElements(min_batch_size=16, max_batch_size=256)
            | "Sketch" >> beam.ParDo(_Sketch(self.text_fn, id_fn, self.num_perm, self.seed, self.ngram,
                                             self.bands, self.rows, self.verify == "exact", self.stage,
                                             self.band_partitions))
            .with_outputs(DEAD, FAILED, BUCKETS, main=KEPT)
        )
        sketches = sketched[KEPT]
        if self.band_partitions:
            pairs = (
                sketched[BUCKETS]
                | "GroupByBandPartition" >> beam.GroupByKey()
                | "PartitionPairs" >> beam.FlatMap(partition_pairs, max_bucket=max_bucket)
            )
        else:
            pairs = (
                sketches
                | "BandKeys" >> beam.FlatMap(lambda kv: ((key, kv[0]) for key in kv[1][2]))
                | "GroupByBand" >> beam.GroupByKey()
                | "BucketPairs" >> beam.FlatMap(bucket_pairs, max_bucket=max_bucket)
            )
        candidates = pairs | "DistinctPairs" >> beam.Distinct()
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
            {"rec": records | "KeyById" >> beam.Map(lambda r: (id_fn(r), r)), "label": labels, "link": links,
             "failed": sketched[FAILED]}
            | "JoinLabels" >> beam.CoGroupByKey()
            | "Route" >> beam.ParDo(_RouteNear(self.stage, id_fn)).with_outputs(REJECTED, main=KEPT)
        )
        return Outputs({KEPT: routed[KEPT], REJECTED: routed[REJECTED], DEAD: sketched[DEAD]})

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


# ---------------------------------------------------------------------------------------------
# Decontamination

FLAGGED = "flagged"
DECONTAM_MODES = ("drop", "flag")


def record_repo(record: dict) -> str | None:
    value = record.get("repo")
    return value if isinstance(value, str) else None


def record_instance_id(record: dict) -> str | None:
    value = record.get("instance_id")
    return value if isinstance(value, str) else None


class _DecontamFn(beam.DoFn):
    def __init__(self, stage: str, sources, text_fns, repo_fn, instance_fn, mode: str, id_fn):
        self._stage, self._sources, self._text_fns = stage, sources, text_fns
        self._repo_fn, self._instance_fn, self._mode, self._id_fn = repo_fn, instance_fn, mode, id_fn
        self._index = None

    def setup(self):
        from tracemill.dedup.decontamination import DecontaminationIndex

        self._index = DecontaminationIndex.from_sources(self._sources)

    def _check(self, record: dict):
        texts = {name: fn(record) for name, fn in self._text_fns.items()}
        found = self._index.match({k: v for k, v in texts.items() if v}, self._repo_fn(record),
                                  self._instance_fn(record))
        return found.rejection() if found else record

    def process(self, record):
        tag, value = apply_stage(self._check, record, self._stage)
        if tag == REJECTED:
            value["record_id"] = self._id_fn(record)
            Metrics.counter("decontam", value["reason"]).inc()
            if self._mode == "flag":
                yield record
                yield pvalue.TaggedOutput(FLAGGED, value)
                return
        yield value if tag == KEPT else pvalue.TaggedOutput(tag, value)


class Decontaminate(beam.PTransform):
    """Drop (or flag) records overlapping evaluation sets; the reason names the benchmark item.

    sources: a `DecontamSources` (files are read once per worker, in `DoFn.setup`).
    text_fns: {name: record -> str | None}, the texts to check (problem statement, patch, code...).
    mode: "drop" rejects matches; "flag" keeps them and reports each on the `flagged` output.
    """

    def __init__(self, stage: str, sources, text_fns: dict[str, Callable[[dict], str | None]],
                 repo_fn: Callable[[dict], str | None] = record_repo,
                 instance_fn: Callable[[dict], str | None] = record_instance_id,
                 mode: str = "drop", id_fn: Callable[[dict], str] = record_id):
        super().__init__(label=stage)
        if mode not in DECONTAM_MODES:
            raise ValueError(f"mode must be one of {DECONTAM_MODES}, got {mode!r}")
        self.stage, self.sources, self.text_fns = stage, sources, dict(text_fns)
        self.repo_fn, self.instance_fn, self.mode, self.id_fn = repo_fn, instance_fn, mode, id_fn

    def expand(self, records):
        routed = records | "Match" >> beam.ParDo(
            _DecontamFn(self.stage, self.sources, self.text_fns, self.repo_fn, self.instance_fn, self.mode,
                        self.id_fn)
        ).with_outputs(REJECTED, DEAD, FLAGGED, main=KEPT)
        return Outputs({KEPT: routed[KEPT], REJECTED: routed[REJECTED], DEAD: routed[DEAD],
                        FLAGGED: routed[FLAGGED]})


# ---------------------------------------------------------------------------------------------
# Single-file JSONL outputs (the `tracemill dedup` / `decontam` contract: DIR/kept.jsonl, ...)


def _part_path(out_dir: str, name: str, index: int, shards: int) -> str:
    from apache_beam.io.filesystems import FileSystems

    return FileSystems.join(out_dir, f".{name}.parts", f"{index:05d}-of-{shards:05d}.jsonl")


class _WriteJsonlPart(beam.DoFn):
    def __init__(self, out_dir: str, name: str, shards: int, sort_key: Callable[[dict], str]):
        self._out_dir, self._name, self._shards, self._sort_key = out_dir, name, shards, sort_key

    def process(self, keyed):
        from tracemill.sinks import atomic_write, jsonl_bytes, sorted_rows

        index, records = keyed
        path = _part_path(self._out_dir, self._name, index, self._shards)
        atomic_write(path, jsonl_bytes(sorted_rows(records, self._sort_key)))
        yield path


class WriteJsonlParts(beam.PTransform):
    """Records -> sorted JSONL parts under `out_dir/.NAME.parts/`; `concat_parts` joins them afterwards.

    Records are sharded by a stable hash of `sort_key` and sorted within a shard, so a worker holds
    one shard, and the concatenation is byte-identical from run to run.
    """

    def __init__(self, out_dir: str, name: str, sort_key: Callable[[dict], str], shards: int = 8):
        super().__init__(label=f"WriteJsonl[{name}]")
        self.out_dir, self.name, self.sort_key, self.shards = out_dir, name, sort_key, shards

    def expand(self, pcoll):
        from tracemill.sinks import shard_of

        shards, key = self.shards, self.sort_key
        keyed = pcoll | "Shard" >> beam.Map(lambda r: (shard_of(key(r), shards), r))
        empties = pcoll.pipeline | "AllShards" >> beam.Create([(i, None) for i in range(shards)])
        return ((keyed, empties) | "Merge" >> beam.Flatten() | "Group" >> beam.GroupByKey()
                | "Write" >> beam.ParDo(_WriteJsonlPart(self.out_dir, self.name, shards, key)))


def concat_parts(out_dir: str, name: str, shards: int = 8, filename: str | None = None) -> int:
    """Driver side: stream the parts, in order, into `out_dir/filename` (atomically); returns lines."""
    from apache_beam.io.filesystems import FileSystems

    target = FileSystems.join(out_dir, filename or f"{name}.jsonl")
    tmp = f"{target}.tmp"
    lines = 0
    parts = [_part_path(out_dir, name, i, shards) for i in range(shards)]
    with FileSystems.create(tmp) as out:
        for part in parts:
            with FileSystems.open(part) as fh:
                while chunk := fh.read(1 << 20):
                    lines += chunk.count(b"\n")
                    out.write(chunk)
    if FileSystems.exists(target):
        FileSystems.delete([target])
    FileSystems.rename([tmp], [target])
    FileSystems.delete(parts)
    if "://" not in out_dir:  # object stores have no folders to remove
        FileSystems.delete([FileSystems.join(out_dir, f".{name}.parts")])
    return lines
