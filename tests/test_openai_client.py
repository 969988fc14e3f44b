"""The policy client against the real loopback server: retries in one place, timeouts, versions."""

from __future__ import annotations

import asyncio
import random
import socket

import openai
import pytest

from tracemill.agent.client import (
    ROLLOUT_HEADER,
    ClientSettings,
    PolicyClient,
    PolicyRequestRejected,
    PolicyTimeout,
    PolicyUnavailable,
    backoff_delay,
    is_retryable,
)
from tracemill.agent.tools import TOOLS
from tracemill.errors import ConfigError, InfraError
from tracemill.testing.openai_server import VERSION_HEADER, OpenAITestServer, ScriptedPolicyTestDouble

try:  # the HTTP library the installed openai client is built on
    import httpx2 as httpx
except ImportError:
    import httpx

MODEL = "scripted-policy"
HELLO = [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}]


@pytest.fixture
def serve(sample_tasks):
    servers = []

    def start(plan, **kw) -> tuple[OpenAITestServer, ScriptedPolicyTestDouble]:
        policy = ScriptedPolicyTestDouble(sample_tasks.values(), plan, **kw)
        server = OpenAITestServer(policy).start()
        servers.append(server)
        return server, policy

    yield start
    for s in servers:
        s.stop()


def _client(server, **kw) -> PolicyClient:
    settings = ClientSettings(base_url=server.base_url, model=kw.pop("model", MODEL), timeout_s=kw.pop("timeout_s", 5),
                              backoff_base_s=0.001, backoff_max_s=0.01, **kw)
    return PolicyClient(settings)


def _run(coro):
    return asyncio.run(coro)


async def _complete(client, messages=HELLO, rollout="textkit-1/0", **kw):
    try:
        return await client.complete(messages, TOOLS, rollout=rollout, **kw)
    finally:
        await client.close()


def test_check_model_lists_the_served_model(serve):
    server, _ = serve("solve")

    async def go():
        c = _client(server)
        try:
            return await c.check_model()
        finally:
            await c.close()

    assert _run(go()) == [MODEL]


def test_unknown_model_is_a_config_error(serve):
    server, _ = serve("solve")

    async def go():
        c = _client(server, model="gpt-nope")
        try:
            await c.check_model()
        finally:
            await c.close()

    with pytest.raises(ConfigError, match="not served"):
        _run(go())


def test_unreachable_server_is_a_config_error_after_retries():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there

    async def go():
        c = PolicyClient(ClientSettings(base_url=f"http://127.0.0.1:{port}/v1", model=MODEL, max_attempts=2,
                                        backoff_base_s=0.001))
        try:
            await c.check_model()
        finally:
            assert c.stats.requests == 2 and c.stats.by_error == {"connection": 2}
            await c.close()

    with pytest.raises(ConfigError, match="cannot reach"):
        _run(go())


def test_429_then_503_are_retried_then_the_answer_comes_through(serve):
    server, policy = serve("flaky", flaky_failures=2)
    client = _client(server)
    done = _run(_complete(client))
    assert done.attempts == 3
    assert client.stats.retries == 2 and client.stats.by_error == {"429": 1, "503": 1}
    assert [r["step"] for r in policy.requests] == [0, 0, 0]
    assert done.message["tool_calls"][0]["function"]["name"] == "bash"


def test_persistent_503_is_an_infra_failure_not_a_label(serve):
    server, policy = serve("down")
    client = _client(server, max_attempts=4)
    with pytest.raises(PolicyUnavailable) as err:
        _run(_complete(client))
    assert isinstance(err.value, InfraError) and err.value.reason == "policy_unavailable"
    assert len(policy.requests) == 4 and client.stats.retries == 3


def test_a_request_timeout_is_not_retried(serve):
    server, policy = serve("timeout", timeout_sleep_s=5)
    client = _client(server, timeout_s=0.5)
    one_turn = [*HELLO, {"role": "assistant", "content": None, "tool_calls": [
        {"id": "c0", "type": "function", "function": {"name": "bash", "arguments": '{"command": "ls"}'}}]},
        {"role": "tool", "tool_call_id": "c0", "content": "x"}]
    with pytest.raises(PolicyTimeout):
        _run(_complete(client, messages=one_turn))
    assert len(policy.requests) == 1 and client.stats.by_error == {"timeout": 1}


def test_other_4xx_is_rejected_without_retry(serve):
    server, _ = serve("solve")
    client = _client(server)
    with pytest.raises(PolicyRequestRejected):
        _run(_complete(client, rollout="no-such-task/0"))  # the double answers 400
    assert client.stats.requests == 1


def test_policy_version_comes_from_the_model_field_or_the_configured_header(serve):
    server, policy = serve("solve", version="step-100")
    assert _run(_complete(_client(server))).policy_version == "scripted-policy@step-100"
    policy.set_version("step-101")
    assert _run(_complete(_client(server, version_header=VERSION_HEADER))).policy_version == "step-101"


def test_sampling_parameters_and_rollout_header_reach_the_server(serve):
    server, policy = serve("solve")
    _run(_complete(_client(server), rollout="textkit-2/5", temperature=0.7, seed=42))
    (req,) = policy.requests
    assert req["rollout"] == "textkit-2/5" and req["temperature"] == 0.7 and req["seed"] == 42
    assert ROLLOUT_HEADER == "X-Tracemill-Rollout"


def test_malformed_tool_calls_pass_through_for_the_loop_to_judge(serve):
    server, _ = serve("malformed")
    done = _run(_complete(_client(server)))
    assert done.message["tool_calls"][0]["function"]["arguments"] == '{"command": "ls"'


def _status_error(cls, status: int):
    response = httpx.Response(status, request=httpx.Request("POST", "http://x/v1/chat/completions"))
    return cls("boom", response=response, body=None)


def test_retry_classification():
    request = httpx.Request("POST", "http://x")
    assert is_retryable(_status_error(openai.RateLimitError, 429))
    assert is_retryable(_status_error(openai.InternalServerError, 503))
    assert is_retryable(openai.APIConnectionError(request=request))
    assert not is_retryable(openai.APITimeoutError(request=request))
    assert not is_retryable(_status_error(openai.BadRequestError, 400))
    assert not is_retryable(_status_error(openai.NotFoundError, 404))


def test_backoff_is_exponential_jittered_capped_and_honours_retry_after():
    s = ClientSettings(base_url="http://x", model="m", backoff_base_s=1.0, backoff_max_s=8.0)
    rng = random.Random(0)
    for attempt, ceiling in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (9, 8.0)]:
        delays = [backoff_delay(attempt, s, rng, None) for _ in range(200)]
        assert 0 <= min(delays) and max(delays) <= ceiling and max(delays) > ceiling / 2
    assert backoff_delay(1, s, rng, 5.0) >= 5.0
    assert backoff_delay(1, s, rng, 60.0) == 8.0
