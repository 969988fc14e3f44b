"""`tracemill dedup` and `tracemill decontam`: any JSONL with an id field (`id` by default).

dedup:    read -> parse -> require id -> unique ids -> exact dedup -> near dedup -> kept | rejections
decontam: read -> parse -> require id -> decontaminate (drop or flag) -> kept | rejections (| flags)

Every input line ends in exactly one of kept.jsonl and rejections.jsonl (malformed lines as
dead-lettered rejections), so `wc -l` of the two equals the input's non-blank lines.
"""

from __future__ import annotations

import apache_beam as beam

from tracemill.beam.dedup import (
    DEAD,
    FLAGGED,
    KEPT,
    REJECTED,
    Decontaminate,
    DedupExact,
    DedupNearDuplicates,
    WriteJsonlParts,
)
from tracemill.beam.stage import Stage
from tracemill.dedup.decontamination import DecontamSources
from tracemill.dedup.texts import FieldText, IdField, RequireId
from tracemill.readers import ReadJsonLines, parse_line

SHARDS = 8


def _read(p, path: str, id_field: str):
    lines = p | "Read" >> ReadJsonLines([path], "record")
    parsed = lines | "Parse" >> Stage("parse", parse_line)
    with_id = parsed.kept | "RequireId" >> Stage("require_id", RequireId(id_field))
    return with_id.kept, [parsed.dead, parsed.rejected, with_id.dead, with_id.rejected]


def _write(out_dir: str, kept, losses: list, id_field: str) -> None:
    kept | "WriteKept" >> WriteJsonlParts(out_dir, "kept", IdField(id_field), SHARDS)
    (losses | "AllRejections" >> beam.Flatten()
     | "WriteRejections" >> WriteJsonlParts(out_dir, "rejections", lambda r: f"{r['record_id']}|{r['stage']}",
                                            SHARDS))


def build_dedup(p: beam.Pipeline, path: str, field: str, out_dir: str, threshold: float = 0.8,
                num_perm: int = 128, ngram: int = 5, seed: int = 1, verify: str = "exact",
                exact: bool = True, id_field: str = "id") -> None:
    records, losses = _read(p, path, id_field)
    record_id = IdField(id_field)
    text = FieldText(field)
    unique = records | "UniqueIds" >> DedupExact("unique_ids", key_fn=record_id, id_fn=record_id,
                                                  reason="duplicate_id")
    records = unique[KEPT]
    losses += [unique[REJECTED], unique[DEAD]]
    if exact:
        exact_out = records | "DedupExact" >> DedupExact("dedup_exact", key_fn=text, id_fn=record_id)
        records = exact_out[KEPT]
        losses += [exact_out[REJECTED], exact_out[DEAD]]
    near = records | "DedupNear" >> DedupNearDuplicates("dedup_near", text_fn=text, threshold=threshold,
                                                         num_perm=num_perm, ngram=ngram, seed=seed,
                                                         id_fn=record_id, verify=verify)
    losses += [near[REJECTED], near[DEAD]]
    _write(out_dir, near[KEPT], losses, id_field)


def build_decontam(p: beam.Pipeline, path: str, fields: list[str], out_dir: str, sources: DecontamSources,
                   mode: str = "drop", id_field: str = "id") -> None:
    records, losses = _read(p, path, id_field)
    checked = records | "Decontaminate" >> Decontaminate(
        "decontam", sources, {f: FieldText(f, required=False) for f in fields}, mode=mode,
        id_fn=IdField(id_field))
    losses += [checked[REJECTED], checked[DEAD]]
    _write(out_dir, checked[KEPT], losses, id_field)
    if mode == "flag":
        checked[FLAGGED] | "WriteFlags" >> WriteJsonlParts(out_dir, "flags", lambda r: r["record_id"], SHARDS)
