"""`tracemill sft-mix`: tasks + recorded rollouts -> validated, deduplicated, sandbox-graded, rejection-
sampled SFT and RL mixtures, with a rejection stream and a disposition ledger.

read -> parse -> validate -> join tasks -> exact dedup -> near dedup -> grade -> sample -> mix -> write
"""

from __future__ import annotations

from functools import partial

import apache_beam as beam

from filters.trajectory import apply_filters, limits_from
from tracemill.beam.dedup import Decontaminate, DedupExact, DedupNearDuplicates
from tracemill.beam.dispositions import DedupTasks, SettleRollouts, emitted, from_rejection, is_input_level
from tracemill.beam.mix import MixSplit
from tracemill.beam.rollouts import GradeRollouts
from tracemill.beam.stage import Stage
from tracemill.config import Config
from tracemill.dedup.decontamination import sources_from
from tracemill.dedup.texts import task_patch, task_problem_statement, text_function
from tracemill.readers import ReadJsonLines, parse_line
from tracemill.records import stable_hash
from tracemill.sinks import WriteShards
from tracemill.validate import validator

# output name -> (schema, sort key)
OUTPUTS = {
    "tasks": ("task", lambda r: r["instance_id"]),
    "trajectories": ("trajectory", lambda r: r["traj_id"]),
    "test_runs": ("test_run", lambda r: r["run_id"]),
    "sft": ("sft_example", lambda r: r["id"]),
    "rl": ("rl_example", lambda r: r["id"]),
    "rejections": ("rejection", lambda r: f"{r['record_kind']}|{r['record_id']}|{r['stage']}"),
    "timings": ("test_run_timing", lambda r: f"{r['traj_id']}|{r['run_id']}"),
    "dispositions": ("disposition", lambda r: f"{r['source']}|{r['line']:09d}|{r['record_id']}"
                     if r["line"] is not None else f"{r['source']}|~|{r['record_id']}"),
}
# Measurements (wall time, retries): written, but kept out of the manifest's hashed outputs.
MEASUREMENTS = ("timings",)


def trajectory_content_key(traj: dict) -> str:
    return stable_hash(traj["instance_id"], traj["messages"], traj.get("patch"))


def read_validated(p, paths, kind: str, schema: str):
    lines = p | f"Read[{kind}]" >> ReadJsonLines(paths, kind)
    parsed = lines | f"Parse[{kind}]" >> Stage(f"parse_{kind}", parse_line)
    valid = parsed.kept | f"Validate[{kind}]" >> Stage(f"validate_{kind}", validator(schema))
    return valid.kept, [parsed.dead, valid.dead, valid.rejected, parsed.rejected]


def build(p: beam.Pipeline, cfg: Config, out_dir: str) -> None:
    tasks, task_losses = read_validated(p, cfg.inputs.tasks, "task", "task")
    rollouts, rollout_losses = read_validated(p, cfg.inputs.rollouts, "trajectory", "trajectory")

    tasks = tasks | "DedupTasks" >> DedupTasks()
    losses = [*task_losses, *rollout_losses, tasks.rejected]
    kept_tasks, contaminated = tasks.kept, None
    if cfg.decontam.enabled:
        clean = kept_tasks | "Decontaminate" >> Decontaminate(
            "decontam", sources_from(cfg.decontam), mode="drop",
            text_fns={"problem_statement": task_problem_statement, "patch": task_patch})
        kept_tasks = clean["kept"]
        losses += [clean["rejected"], clean["dead"]]
        contaminated = beam.pvalue.AsDict(clean["rejected"] | "ContaminatedIds" >> beam.Map(
            lambda r: (r["record_id"], r["duplicate_of"] or r["reason"])))
    task_index = beam.pvalue.AsDict(kept_tasks | "IndexTasks" >> beam.Map(lambda t: (t["instance_id"], t)))

    filtered = rollouts | "FilterRollouts" >> Stage("filter", partial(apply_filters, limits=limits_from(cfg.filters)))
    rollouts = filtered.kept
    losses += [filtered.rejected, filtered.dead]
    if cfg.dedup.exact:
        exact = rollouts | "DedupExact" >> DedupExact("dedup_exact", key_fn=trajectory_content_key)
        rollouts = exact["kept"]
        losses += [exact["rejected"], exact["dead"]]
    if cfg.dedup.near:
        near = rollouts | "DedupNear" >> DedupNearDuplicates(
            "dedup_near", text_fn=text_function(cfg.dedup.text), threshold=cfg.dedup.threshold, num_perm=cfg.dedup.num_perm,
            ngram=cfg.dedup.ngram, seed=cfg.dedup.seed)
        rollouts = near["kept"]
        losses += [near["rejected"], near["dead"]]

    graded = rollouts | "GradeRollouts" >> GradeRollouts(task_index, cfg.grading, cfg.sampling, cfg.inputs.repos,
                                                         contaminated)
    losses += [graded["rejected"], graded["dead"]]
    bundles = graded["kept"]

    trajectories = bundles | "Trajectories" >> beam.Map(lambda b: b["trajectory"])
    test_runs = bundles | "TestRuns" >> beam.FlatMap(lambda b: [b["test_run"]] if b["test_run"] else [])
    ready_sft, ready_losses = read_validated(p, cfg.inputs.sft_examples, "sft_example", "sft_example")
    losses += ready_losses
    sft_candidates = ((bundles | "SftCandidates" >> beam.FlatMap(lambda b: [b["sft"]] if b["sft"] else []),
                       ready_sft) | "AllSftCandidates" >> beam.Flatten())
    sft = sft_candidates | "MixSft" >> MixSplit("sft", cfg.mix.sft, cfg.mix.seed)
    rl = (bundles | "RlCandidates" >> beam.Map(lambda b: b["rl"])
          | "MixRl" >> MixSplit("rl", cfg.mix.rl, cfg.mix.seed))
    kept_examples = (sft.kept, rl.kept) | "KeptExamples" >> beam.Flatten()
    settled = (trajectories, kept_examples) | "SettleRollouts" >> SettleRollouts()

    input_rejections = losses | "InputRejections" >> beam.Flatten()
    rejections = ((input_rejections, settled.rejected, sft.rejected, rl.rejected)
                  | "AllRejections" >> beam.Flatten())
    # The ledger holds input records only: example drops of derived examples stay in rejections.
    ready_dropped = sft.rejected | "ReadyDropped" >> beam.Filter(is_input_level)
    ready_kept = sft.kept | "ReadyKept" >> beam.Filter(lambda e: "_origin" in e)
    dispositions = ((input_rejections | "Ledger[rejected]" >> beam.Map(from_rejection),
                     kept_tasks | "Ledger[tasks]" >> beam.Map(emitted),
                     ready_dropped | "Ledger[ready_dropped]" >> beam.Map(from_rejection),
                     ready_kept | "Ledger[ready_kept]" >> beam.Map(emitted),
                     settled.rows)
                    | "Ledger" >> beam.Flatten())

    # One record per run_id (cache hits share it); wall time and retries go to `timings`, which varies
    # between identical runs, so that `test_runs` stays byte-identical.
    unique_runs = (test_runs | "KeyRuns" >> beam.Map(lambda r: (r["run_id"], r))
                   | "OneRun" >> beam.CombinePerKey(lambda rs: min(rs, key=lambda r: r.get("traj_id") or ""))
                   | "RunValues" >> beam.Values()
                   | "DropTiming" >> beam.Map(lambda r: {**r, "duration_s": None, "traj_id": None, "attempts": 1, "cached": None}))
    timings = test_runs | "Timings" >> beam.Map(lambda r: {"run_id": r["run_id"], "traj_id": r.get("traj_id"),
                                                           "duration_s": r.get("duration_s"),
                                                           "attempts": r.get("attempts", 1),
                                                           "cached": r.get("cached")})

    outputs = {"tasks": kept_tasks, "trajectories": trajectories, "test_runs": unique_runs, "sft": sft.kept,
               "rl": rl.kept, "rejections": rejections, "dispositions": dispositions, "timings": timings}
    for name, pcoll in outputs.items():
        schema, key = OUTPUTS[name]
        pcoll | f"Write[{name}]" >> WriteShards(out_dir, name, schema, key, cfg.output.shards, cfg.output.jsonl)
