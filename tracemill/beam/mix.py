"""Mix one split (sft or rl) by per-source weights and a token budget (see tracemill.mix)."""

from __future__ import annotations

import apache_beam as beam
from apache_beam import pvalue

from tracemill.config import SplitMix
from tracemill.mix import decide, keep_probability, shares
from tracemill.records import Rejection, rejection_record


class _Decide(beam.DoFn):
    def __init__(self, split: str, mix: SplitMix, seed: int):
        self.split, self.seed, self.shares = split, seed, shares(mix)

    def process(self, example, totals):
        source = example["source"]
        if source not in self.shares:
            rej = Rejection("source_not_in_mix", signal=float(example["num_tokens"]),
                            detail=f"source {source!r} has no weight in mix.{self.split}.weights")
            yield pvalue.TaggedOutput("rejected", _example_rejection(example, self.split, rej))
            return
        p = keep_probability(self.shares[source], totals.get(source, 0))
        keep, draw = decide(example, self.seed, p)
        if keep:
            yield example
        else:
            rej = Rejection("over_token_budget", signal=float(example["num_tokens"]), limit=self.shares[source],
                            detail=f"keep_probability={p:.6f} draw={draw:.6f}")
            yield pvalue.TaggedOutput("rejected", _example_rejection(example, self.split, rej))


def _example_rejection(example: dict, split: str, rej: Rejection) -> dict:
    # Examples read from input files keep their origin (file, line); derived ones name their source.
    if "_origin" not in example:
        example = {**example, "_origin": {"kind": f"{split}_example", "source": example.get("source"), "line": None}}
    return rejection_record(example, f"mix_{split}", rej)


class MixSplit(beam.PTransform):
    """Examples of one split -> kept examples (main) and `rejected` example-level drops."""

    def __init__(self, split: str, mix: SplitMix, seed: int):
        super().__init__(label=f"Mix[{split}]")
        self.split, self.mix, self.seed = split, mix, seed

    def expand(self, examples):
        totals = (examples
                  | "Tokens" >> beam.Map(lambda e: (e["source"], e["num_tokens"]))
                  | "SumPerSource" >> beam.CombinePerKey(sum))
        return examples | "Decide" >> beam.ParDo(
            _Decide(self.split, self.mix, self.seed), totals=beam.pvalue.AsDict(totals)
        ).with_outputs("rejected", main="kept")
