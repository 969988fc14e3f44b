"""The SFT and RL shards load with Hugging Face `datasets` and read in TRL's conversational format:
a `messages` list of {role, content, ...} turns and a `tools` list of function definitions."""

from __future__ import annotations

import json
import os

import pytest

from tests.fixed_run import fixed_run, read_output  # noqa: F401 - fixture

# Local Parquet files need no hub access; say so before `datasets` reads its config at import.
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
datasets = pytest.importorskip("datasets", reason="`datasets` is in the test extra: pip install -e '.[test]'")

pytestmark = pytest.mark.sandbox
ROLES = {"system", "user", "assistant", "tool"}


@pytest.fixture(scope="module")
def loaded(fixed_run, tmp_path_factory):  # noqa: F811
    cache = tmp_path_factory.mktemp("hf-cache")
    out = {}
    for split in ("sft", "rl"):
        files = sorted(str(p) for p in (fixed_run / split).glob("*.parquet"))
        out[split] = datasets.load_dataset("parquet", data_files=files, split="train", cache_dir=str(cache))
    return out


def check_turns(messages):
    assert isinstance(messages, list) and messages
    for m in messages:
        assert m["role"] in ROLES
        assert m["content"] is None or isinstance(m["content"], str)
        if m["role"] == "assistant" and m.get("tool_calls"):
            for call in m["tool_calls"]:
                assert call["type"] == "function"
                assert isinstance(json.loads(call["function"]["arguments"]), dict)
        if m["role"] == "tool":
            assert m["tool_call_id"]


def test_sft_loads_with_all_rows(loaded, fixed_run):  # noqa: F811
    ds = loaded["sft"]
    expected = read_output(fixed_run, "sft")
    assert ds.num_rows == len(expected) > 0
    assert {"messages", "tools", "id", "num_tokens"} <= set(ds.column_names)
    assert sorted(ds["id"]) == sorted(e["id"] for e in expected)


def test_sft_is_trl_conversational(loaded, fixed_run):  # noqa: F811
    by_id = {e["id"]: e for e in read_output(fixed_run, "sft")}
    for row in loaded["sft"]:
        check_turns(row["messages"])
        assert row["messages"][-1]["role"] in ("assistant", "tool")
        assert [m["role"] for m in row["messages"]] == [m["role"] for m in by_id[row["id"]]["messages"]]
        assert [m["content"] for m in row["messages"]] == [m["content"] for m in by_id[row["id"]]["messages"]]
        assert row["tools"], "tool-using trajectories carry their tool definitions"
        for tool in row["tools"]:
            assert tool["type"] == "function" and tool["function"]["name"]
            # Parquet has no schemaless type: a function's JSON-Schema parameters travel as JSON text
            # (schemas' "x-arrow": "json"); decoded, they are the object chat templates expect.
            params = json.loads(tool["function"]["parameters"])
            assert params["type"] == "object" and "properties" in params


def test_assistant_turns_call_declared_tools(loaded):
    for row in loaded["sft"]:
        declared = {t["function"]["name"] for t in row["tools"]}
        called = {c["function"]["name"] for m in row["messages"] for c in (m.get("tool_calls") or [])}
        assert called <= declared


def test_rl_loads_with_prompt_reward_and_verifier(loaded, fixed_run):  # noqa: F811
    ds = loaded["rl"]
    expected = {e["id"]: e for e in read_output(fixed_run, "rl")}
    assert ds.num_rows == len(expected)
    for row in ds:
        check_turns(row["prompt"])
        assert row["reward"] == expected[row["id"]]["reward"]
        assert row["verifier"]["FAIL_TO_PASS"] == expected[row["id"]]["verifier"]["FAIL_TO_PASS"]
