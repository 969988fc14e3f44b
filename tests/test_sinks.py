import apache_beam as beam
import pyarrow.parquet as pq
from apache_beam.testing.test_pipeline import TestPipeline

from tracemill.records import ORIGIN
from tracemill.sinks import WriteShards, read_jsonl_dir, shard_of, write_shard

RECS = [{"record_kind": "trajectory", "record_id": f"r{i}", "source": "f", "line": i, "disposition": "emitted",
         "stage": "emit", "reason": None, ORIGIN: {"kind": "x"}} for i in range(7)]


def _write(out, recs, shards=3):
    with TestPipeline() as p:
        p | beam.Create(recs) | WriteShards(str(out), "dispositions", "disposition", lambda r: r["record_id"], shards)


def test_shards_are_byte_identical_whatever_the_input_order(tmp_path):
    _write(tmp_path / "a", RECS)
    _write(tmp_path / "b", list(reversed(RECS)))
    for f in sorted((tmp_path / "a" / "dispositions").iterdir()):
        assert f.read_bytes() == (tmp_path / "b" / "dispositions" / f.name).read_bytes()


def test_every_shard_exists_even_when_empty_and_no_temp_files_remain(tmp_path):
    _write(tmp_path, RECS[:1], shards=4)
    names = sorted(p.name for p in (tmp_path / "dispositions").iterdir())
    assert names == [f"part-{i:05d}-of-00004.{ext}" for i in range(4) for ext in ("jsonl", "parquet")]
    assert sum(pq.read_table(tmp_path / "dispositions" / n).num_rows for n in names if n.endswith("parquet")) == 1


def test_records_land_in_their_hash_shard_sorted_and_without_origin(tmp_path):
    _write(tmp_path, RECS)
    back = read_jsonl_dir(str(tmp_path), "dispositions")
    assert sorted(r["record_id"] for r in back) == sorted(r["record_id"] for r in RECS)
    assert all(ORIGIN not in r for r in back)
    table = pq.read_table(tmp_path / "dispositions" / "part-00000-of-00003.parquet")
    ids = table.column("record_id").to_pylist()
    assert ids == sorted(ids) and all(shard_of(i, 3) == 0 for i in ids)


def test_rewrite_replaces_atomically(tmp_path):
    write_shard(str(tmp_path), "dispositions", "disposition", 0, 1, RECS[:2], lambda r: r["record_id"])
    write_shard(str(tmp_path), "dispositions", "disposition", 0, 1, RECS[:3], lambda r: r["record_id"])
    assert len(read_jsonl_dir(str(tmp_path), "dispositions")) == 3
    assert not [p for p in (tmp_path / "dispositions").iterdir() if ".tmp-" in p.name]
