import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from tracemill.beam.mix import MixSplit
from tracemill.config import SplitMix
from tracemill.mix import decide, keep_probability, shares


def test_shares_follow_weights():
    assert shares(SplitMix(weights={"a": 3.0, "b": 1.0}, token_budget=1000)) == {"a": 750.0, "b": 250.0}
    assert shares(SplitMix(weights={"a": 1.0})) == {"a": None}


@pytest.mark.parametrize("share,total,p", [(None, 10, 1.0), (50, 100, 0.5), (500, 100, 1.0), (10, 0, 0.0)])
def test_keep_probability(share, total, p):
    assert keep_probability(share, total) == p


def test_decision_is_a_function_of_seed_and_id():
    ex = {"id": "sft-r-1"}
    assert decide(ex, 0, 0.5) == decide(dict(ex), 0, 0.5)
    assert decide(ex, 0, 0.5)[1] != decide(ex, 1, 0.5)[1]


def test_budget_is_met_in_expectation():
    examples = [{"id": f"e{i}", "source": "a", "num_tokens": 10} for i in range(2000)]
    p = keep_probability(5000, 20000)
    kept = sum(decide(e, 7, p)[0] for e in examples)
    assert 400 < kept < 600  # 500 expected; binomial sd ~19


def test_mix_split_keeps_and_rejects_with_reason():
    examples = [{"id": f"e{i}", "source": "a", "num_tokens": 10} for i in range(40)] + \
               [{"id": "x", "source": "unknown", "num_tokens": 5}]
    expected_kept = sorted(e["id"] for e in examples[:40] if decide(e, 3, 0.5)[0])
    with TestPipeline() as p:
        out = p | beam.Create(examples) | MixSplit("sft", SplitMix(weights={"a": 1.0}, token_budget=200), 3)
        assert_that(out.kept | beam.Map(lambda e: e["id"]), equal_to(expected_kept), label="kept")
        reasons = out.rejected | beam.Map(lambda r: r["reason"])
        assert_that(reasons | beam.combiners.Count.PerElement(),
                    equal_to([("over_token_budget", 40 - len(expected_kept)), ("source_not_in_mix", 1)]),
                    label="rejected")
