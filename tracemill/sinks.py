"""Deterministic, atomic sinks: Parquet (+ JSONL) shards by a stable hash of each record's id.

Every shard index always gets a file (an empty one carries the schema), records inside a shard are
sorted by id, and each file is written under a temporary name then renamed, so a reader never sees a
half-written shard and two runs with the same inputs produce byte-identical files.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Callable

import apache_beam as beam
import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems

from schemas import arrow
from tracemill.records import canonical_json, strip_origin


def shard_of(key: str, shards: int) -> int:
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") % shards


def shard_name(name: str, index: int, shards: int, ext: str) -> str:
    return f"part-{index:05d}-of-{shards:05d}.{ext}"


def atomic_write(path: str, data: bytes) -> None:
    """Write `data` under a temporary name, then rename: readers never see a partial file."""
    tmp = f"{path}.tmp-{hashlib.sha256(data).hexdigest()[:12]}"
    with FileSystems.create(tmp) as fh:
        fh.write(data)
    if FileSystems.exists(path):
        FileSystems.delete([path])
    FileSystems.rename([tmp], [path])


def _ensure_dir(path: str) -> None:
    # Shards of one output are written concurrently; whoever creates the folder first wins.
    try:
        FileSystems.mkdirs(path)
    except (OSError, RuntimeError):
        if not FileSystems.exists(path):
            raise


def parquet_bytes(schema_name: str, records: list[dict]) -> bytes:
    buf = io.BytesIO()
    pq.write_table(arrow.to_table(schema_name, records), buf, compression="zstd", write_statistics=True)
    return buf.getvalue()


def jsonl_bytes(records: list[dict]) -> bytes:
    return "".join(canonical_json(r) + "\n" for r in records).encode("utf-8")


def sorted_rows(records, sort_key: Callable[[dict], str]) -> list[dict]:
    """Records without their in-flight origin, in the stable order every sink writes."""
    return sorted((strip_origin(r) for r in records if r is not None), key=lambda r: (sort_key(r), canonical_json(r)))


def write_shard(out_dir: str, name: str, schema_name: str, index: int, shards: int, records: list[dict],
                sort_key: Callable[[dict], str], jsonl: bool = True) -> list[str]:
    """Write one shard's Parquet (and JSONL) files; returns their paths."""
    rows = sorted_rows(records, sort_key)
    base = FileSystems.join(out_dir, name)
    _ensure_dir(base)
    written = []
    path = FileSystems.join(base, shard_name(name, index, shards, "parquet"))
    atomic_write(path, parquet_bytes(schema_name, rows))
    written.append(path)
    if jsonl:
        path = FileSystems.join(base, shard_name(name, index, shards, "jsonl"))
        atomic_write(path, jsonl_bytes(rows))
        written.append(path)
    return written


class _WriteShard(beam.DoFn):
    def __init__(self, out_dir, name, schema_name, shards, sort_key, jsonl):
        self.args = (out_dir, name, schema_name)
        self.shards, self.sort_key, self.jsonl = shards, sort_key, jsonl

    def process(self, keyed):
        index, records = keyed
        real = [r for r in records if r is not None]
        yield from write_shard(*self.args, index, self.shards, real, self.sort_key, self.jsonl)


class WriteShards(beam.PTransform):
    """Write a PCollection of records as `out_dir/name/part-*.parquet` (+ .jsonl), deterministically."""

    def __init__(self, out_dir: str, name: str, schema_name: str, sort_key: Callable[[dict], str],
                 shards: int = 2, jsonl: bool = True):
        super().__init__(label=f"Write[{name}]")
        self.out_dir, self.name, self.schema_name = out_dir, name, schema_name
        self.sort_key, self.shards, self.jsonl = sort_key, shards, jsonl

    def expand(self, pcoll):
        shards, key = self.shards, self.sort_key
        keyed = pcoll | "Key" >> beam.Map(lambda r: (shard_of(key(r), shards), r))
        # One placeholder per shard so empty shards still get a file with the schema.
        empties = pcoll.pipeline | "Shards" >> beam.Create([(i, None) for i in range(shards)])
        return ((keyed, empties)
                | "Merge" >> beam.Flatten()
                | "Group" >> beam.GroupByKey()
                | "Write" >> beam.ParDo(_WriteShard(self.out_dir, self.name, self.schema_name, shards, key,
                                                    self.jsonl)))


def read_jsonl_dir(out_dir: str, name: str) -> list[dict]:
    """All records of an output written by WriteShards (driver-side, for manifests and tests)."""
    pattern = FileSystems.join(out_dir, name, "part-*.jsonl")
    found = FileSystems.match([pattern])[0].metadata_list
    out = []
    for meta in sorted(found, key=lambda m: m.path):
        with FileSystems.open(meta.path) as fh:
            out.extend(json.loads(line) for line in fh.read().decode("utf-8").splitlines() if line)
    return out
