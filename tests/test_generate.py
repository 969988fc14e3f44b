"""Rollout generation: k samples per task, grading, rewards and reasons, resume, dead letters, manifest."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import schemas
from tracemill.agent import generate as gen
from tracemill.agent.client import ClientSettings
from tracemill.agent.generate import GenerateSettings, TrajectoryStore, generate, load_tasks
from tracemill.agent.loop import AgentLimits, Episode
from tracemill.errors import ConfigError, InfraError
from tracemill.sample import data_path
from tracemill.sampling import examples
from tracemill.testing.openai_server import OpenAITestServer, ScriptedPolicyTestDouble

SAMPLE_TASKS = "@sample/tasks.jsonl"
LIMITS = AgentLimits(max_turns=6, step_timeout_s=20, rollout_timeout_s=60)


def settings(**kw) -> GenerateSettings:
    base = {"k": 2, "concurrency": 4, "agent": LIMITS, "grading_timeout_s": 30, "temperature": 0.8}
    return GenerateSettings(**{**base, **kw})


def client_for(server, **kw) -> ClientSettings:
    return ClientSettings(base_url=server.base_url, model="scripted-policy", backoff_base_s=0.001, **kw)


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


# -- tasks ---------------------------------------------------------------------------------------

def test_every_task_line_is_sampled_or_rejected_once(tmp_path):
    dup = tmp_path / "more.jsonl"
    first = data_path("tasks.jsonl").read_text().splitlines()[0]
    dup.write_text(first + "\n{not json\n")
    ts = load_tasks((SAMPLE_TASKS, str(dup)), instance_ids=("textkit-1", "textkit-2", "textkit-3"))
    assert [t["instance_id"] for t in ts.tasks] == ["textkit-1", "textkit-2", "textkit-3"]
    reasons = sorted((r["stage"], r["disposition"], r["reason"], r["line"]) for r in ts.rejections)
    assert reasons == [("dedup_tasks", "deduplicated", "duplicate_instance_id", 1),
                       ("parse_task", "dead_lettered", "malformed_json", 2),
                       ("select_tasks", "filtered", "not_selected", 4),
                       ("validate_task", "dead_lettered", "schema_invalid", 5)]
    assert sum(i["records"] for i in ts.inputs) == 7 == len(ts.tasks) + len(ts.rejections)


def test_unknown_instance_id_is_a_config_error():
    with pytest.raises(ConfigError, match="textkit-99"):
        load_tasks((SAMPLE_TASKS,), instance_ids=("textkit-99",))


# -- outcomes ------------------------------------------------------------------------------------

@pytest.mark.parametrize("exit_status,test_run,expected", [
    ("submitted", {"resolved": True, "outcome": "resolved"}, (True, 1.0, "resolved")),
    ("submitted", {"resolved": False, "outcome": "unresolved"}, (False, -1.0, "fail")),
    ("submitted", {"resolved": False, "outcome": "patch_failed"}, (False, -1.0, "patch_failed")),
    ("submitted", None, (False, -1.0, "no_patch")),
    ("timeout", None, (False, -1.0, "timeout")),
    ("format_error", None, (False, -1.0, "format_error")),
    ("turn_limit", None, (False, -1.0, "no_patch")),
    ("token_limit", None, (False, -1.0, "no_patch")),
])
def test_reward_and_reason_follow_cwm(exit_status, test_run, expected):
    ep = Episode(messages=[], exit_status=exit_status, diff="")
    assert gen.outcome(ep, test_run, (1.0, -1.0)) == expected


def test_sft_mix_gives_the_same_reason_to_an_ungraded_rollout(sample_tasks):
    traj = {"traj_id": "t", "instance_id": "textkit-1", "exit_status": "timeout", "patch": None,
            "messages": [{"role": "user", "content": "x"}]}
    _, sft, rl = examples(traj, sample_tasks["textkit-1"], None)
    assert sft is None and rl["reason"] == "timeout" and rl["reward"] == -1.0


# -- the store -----------------------------------------------------------------------------------

def test_a_torn_last_line_is_cut_off_and_not_counted_as_done(tmp_path):
    path = tmp_path / "trajectories.jsonl"
    path.write_text('{"instance_id": "a", "sample_index": 0, "model": "m"}\n{"instance_id": "a", "sampl')
    store = TrajectoryStore(path)
    assert store.load() == 1 and list(store.done) == [("a", 0)]
    assert path.read_text().endswith('"m"}\n')


def test_a_foreign_file_is_refused(tmp_path):
    path = tmp_path / "trajectories.jsonl"
    path.write_text('{"hello": 1}\n')
    with pytest.raises(ConfigError, match="not a generated trajectory"):
        TrajectoryStore(path).load()


# -- whole runs ----------------------------------------------------------------------------------

PLAN = {"textkit-1": ["solve", "fail"], "textkit-4": ["give_up", "loop", "solve"]}


@pytest.mark.sandbox
def test_generate_grades_resumes_and_accounts_for_everything(tmp_path, sample_tasks):
    policy = ScriptedPolicyTestDouble(sample_tasks.values(), PLAN)
    out = tmp_path / "gen"
    picked = ("textkit-1", "textkit-4")
    with OpenAITestServer(policy) as server:
        first = generate(settings(instance_ids=picked), client_for(server), out)
        lines_after_first = (out / "trajectories.jsonl").read_text()
        n_requests = len(policy.requests)
        again = generate(settings(instance_ids=picked), client_for(server), out)
        assert len(policy.requests) == n_requests  # nothing left to do: no request sent
        assert (out / "trajectories.jsonl").read_text() == lines_after_first
        more = generate(settings(instance_ids=picked, k=3), client_for(server), out)
    assert {r["rollout"] for r in policy.requests[n_requests:]} == {"textkit-1/2", "textkit-4/2"}
    assert first["run_info"]["rollouts_written"] == 4 and again["run_info"]["rollouts_written"] == 0
    assert more["run_info"]["rollouts_resumed"] == 4 and more["run_info"]["rollouts_written"] == 2

    trajs = read_jsonl(out / "trajectories.jsonl")
    assert all(schemas.is_valid("trajectory", t) for t in trajs)
    got = {(t["instance_id"], t["sample_index"]): (t["exit_status"], t["resolved"], t["reward"],
                                                    t["metadata"]["reason"]) for t in trajs}
    assert got == {("textkit-1", 0): ("submitted", True, 1.0, "resolved"),
                   ("textkit-1", 1): ("submitted", False, -1.0, "fail"),
                   ("textkit-1", 2): ("submitted", True, 1.0, "resolved"),
                   ("textkit-4", 0): ("submitted", False, -1.0, "no_patch"),
                   ("textkit-4", 1): ("turn_limit", False, -1.0, "no_patch"),
                   ("textkit-4", 2): ("submitted", True, 1.0, "resolved")}
    looped = next(t for t in trajs if t["exit_status"] == "turn_limit")
    assert looped["patch"] is None and len([m for m in looped["messages"] if m["role"] == "assistant"]) == 6
    assert len({t["traj_id"] for t in trajs}) == 6
    assert len({t["metadata"]["seed"] for t in trajs}) == 6  # one server seed per sample
    assert all(t["policy_version_begin"] == t["policy_version_end"] == "scripted-policy@v1" for t in trajs)
    failed = next(t for t in trajs if t["metadata"]["reason"] == "fail")["metadata"]["test_run"]
    assert failed["FAIL_TO_PASS"]["failure"] == sample_tasks["textkit-1"]["FAIL_TO_PASS"]

    manifest = json.loads((out / "manifest.json").read_text())
    assert schemas.is_valid("manifest", manifest) and manifest["counts"]["reconciled"]
    assert manifest["counts"]["total"] == {"input": 5, "emitted": 2, "filtered": 2, "deduplicated": 0,
                                           "dead_lettered": 1}
    assert manifest["counts"]["rollouts"]["planned"] == 6 == manifest["counts"]["rollouts"]["written"]
    pass_at = {r["instance_id"]: (r["n"], r["correct"], r["pass@1"]) for r in manifest["metrics"]["pass_at_k"]}
    assert pass_at == {"textkit-1": (3, 2, round(2 / 3, 6)), "textkit-4": (3, 1, round(1 / 3, 6))}
    assert manifest["metrics"]["acceptance_by_model"] == [
        {"model": "scripted-policy", "graded": 6, "accepted": 3, "rate": 0.5}]
    assert "api_key" not in manifest["config"]["client"]
    rejections = read_jsonl(out / "rejections.jsonl")
    assert sorted(r["reason"] for r in rejections) == ["not_selected", "not_selected", "schema_invalid"]


@pytest.mark.sandbox
def test_infra_failures_are_dead_lettered_then_retried_by_the_next_run(tmp_path, sample_tasks, monkeypatch):
    policy = ScriptedPolicyTestDouble(sample_tasks.values(), {"textkit-2": ["solve", "down"]})
    out = tmp_path / "gen"
    with OpenAITestServer(policy) as server:
        first = generate(settings(instance_ids=("textkit-2",)), client_for(server, max_attempts=3), out)
        dead = [r for r in read_jsonl(out / "rejections.jsonl") if r["record_kind"] == "rollout"]
        assert [(r["stage"], r["reason"], r["disposition"]) for r in dead] == [
            ("generate", "policy_unavailable", "dead_lettered")]
        assert [t["sample_index"] for t in read_jsonl(out / "trajectories.jsonl")] == [0]  # never a negative
        assert first["manifest"]["counts"]["rollouts"] == {
            **first["manifest"]["counts"]["rollouts"], "planned": 2, "written": 1, "dead_lettered": 1}
        assert first["manifest"]["counts"]["reconciled"]

        policy.plan = {"textkit-2": ["solve", "solve"]}  # the server recovers
        generate(settings(instance_ids=("textkit-2",)), client_for(server), out)
    assert [t["sample_index"] for t in read_jsonl(out / "trajectories.jsonl")] == [0, 1]
    assert not [r for r in read_jsonl(out / "rejections.jsonl") if r["record_kind"] == "rollout"]


def test_a_sandbox_that_cannot_start_dead_letters_the_rollout(tmp_path, sample_tasks, monkeypatch):
    def no_sandbox(*a, **k):
        raise InfraError("bwrap: no user namespaces", reason="sandbox_unavailable")

    monkeypatch.setattr(gen.Workspace, "create", no_sandbox)
    policy = ScriptedPolicyTestDouble(sample_tasks.values(), "solve")
    with OpenAITestServer(policy) as server:
        result = generate(settings(instance_ids=("textkit-3",), k=1), client_for(server), tmp_path / "gen")
    assert result["manifest"]["counts"]["rollouts"]["dead_by_reason"] == {"sandbox_unavailable": 1}
    assert (tmp_path / "gen" / "trajectories.jsonl").read_text() == ""


def test_a_run_of_another_model_is_not_mixed_in(tmp_path, sample_tasks):
    out = tmp_path / "gen"
    out.mkdir()
    (out / "trajectories.jsonl").write_text(json.dumps({"instance_id": "textkit-1", "sample_index": 0,
                                                        "model": "other-model"}) + "\n")
    with OpenAITestServer(ScriptedPolicyTestDouble(sample_tasks.values(), "solve")) as server, \
            pytest.raises(ConfigError, match="other-model"):
        generate(settings(instance_ids=("textkit-1",)), client_for(server), out)


def test_an_unknown_repository_fails_before_any_request(tmp_path, sample_tasks):
    policy = ScriptedPolicyTestDouble(sample_tasks.values(), "solve")
    with OpenAITestServer(policy) as server, pytest.raises(ConfigError, match="--repo tracemill/textkit=PATH"):
        generate(settings(repos={}), client_for(server), tmp_path / "gen")
    assert policy.requests == []


@pytest.mark.sandbox
@pytest.mark.slow
def test_same_policy_and_seed_give_byte_identical_outputs(tmp_path, sample_tasks):
    outs = []
    for run in range(2):
        policy = ScriptedPolicyTestDouble(sample_tasks.values(), {"textkit-3": ["solve", "fail", "recover"]})
        with OpenAITestServer(policy) as server:
            generate(settings(instance_ids=("textkit-3",), k=3), client_for(server), tmp_path / f"run{run}")
        outs.append(tmp_path / f"run{run}")
    for name in ("trajectories.jsonl", "rejections.jsonl", "manifest.json"):
        assert (outs[0] / name).read_bytes() == (outs[1] / name).read_bytes(), name


@pytest.mark.sandbox
def test_weights_swapped_mid_rollout_show_in_begin_end_and_the_manifest(tmp_path, sample_tasks):
    holder = {}

    def swap(rollout, step):
        if step == 2:
            holder["policy"].set_version("v2")

    policy = holder["policy"] = ScriptedPolicyTestDouble(sample_tasks.values(), "solve", on_request=swap)
    with OpenAITestServer(policy) as server:
        result = generate(settings(instance_ids=("textkit-4",), k=1), client_for(server), tmp_path / "gen")
    (traj,) = read_jsonl(tmp_path / "gen" / "trajectories.jsonl")
    steps = [m["policy_version"] for m in traj["messages"] if m["role"] == "assistant"]
    assert steps == ["scripted-policy@v1", "scripted-policy@v1", "scripted-policy@v2", "scripted-policy@v2"]
    assert (traj["policy_version_begin"], traj["policy_version_end"]) == ("scripted-policy@v1", "scripted-policy@v2")
    assert traj["resolved"] is True
    versions = result["manifest"]["metrics"]["policy_versions"]
    assert versions == {"steps_by_version": {"scripted-policy@v1": 2, "scripted-policy@v2": 2},
                        "rollouts_spanning_versions": 1}


_CRASHING_RUN = """
import sys, json
from pathlib import Path
from tracemill.agent.client import ClientSettings
from tracemill.agent.generate import GenerateSettings, generate
from tracemill.agent.loop import AgentLimits
from tracemill.sample import data_path
from tracemill.testing.openai_server import OpenAITestServer, ScriptedPolicyTestDouble
tasks = [json.loads(l) for l in data_path("tasks.jsonl").read_text().splitlines()[:4]]
with OpenAITestServer(ScriptedPolicyTestDouble(tasks, "solve")) as server:
    generate(GenerateSettings(k=4, concurrency=1, instance_ids=("textkit-2",), agent=AgentLimits(max_turns=6)),
             ClientSettings(base_url=server.base_url, model="scripted-policy"), Path(sys.argv[1]))
"""


@pytest.mark.sandbox
@pytest.mark.slow
def test_a_killed_run_resumes_where_it_stopped(tmp_path, sample_tasks):
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "gen"
    proc = subprocess.Popen([sys.executable, "-c", _CRASHING_RUN, str(out)], stderr=subprocess.DEVNULL)
    path = out / "trajectories.jsonl"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if path.exists() and path.read_text().count("\n") >= 1:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    survived = {(t["instance_id"], t["sample_index"]) for t in read_jsonl(path)}
    assert 1 <= len(survived) < 4 and not (out / "manifest.json").exists()

    policy = ScriptedPolicyTestDouble(sample_tasks.values(), "solve")
    with OpenAITestServer(policy) as server:
        result = generate(settings(instance_ids=("textkit-2",), k=4), client_for(server), out)
    trajs = read_jsonl(path)
    assert sorted((t["instance_id"], t["sample_index"]) for t in trajs) == [("textkit-2", i) for i in range(4)]
    redone = {r["rollout"] for r in policy.requests}
    assert redone == {f"textkit-2/{i}" for i in range(4) if ("textkit-2", i) not in survived}
    assert result["run_info"]["rollouts_resumed"] == len(survived)
    assert all(t["resolved"] for t in trajs)
