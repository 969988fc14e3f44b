"""Problem statements: from failing tests' output, and the optional OpenAI-compatible rewrite."""

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from tracemill.errors import InfraError
from tracemill.records import Rejection
from tracemill.taskgen.statements import LlmStatementWriter, WithLlmStatement, statement_from_failures


def test_statement_names_failing_tests_and_quotes_messages_without_the_location():
    text = statement_from_failures(["t.py::test_a", "t.py::test_b"], {"t.py::test_a": "assert 3 == 2"})
    assert text.startswith("2 test(s) fail that used to pass:")
    assert "- t.py::test_a" in text and "assert 3 == 2" in text


class _Server:
    """A local OpenAI-compatible endpoint: answers chat completions, or 503s `fail` times first."""

    def __init__(self, fail: int = 0):
        self.fail, self.requests = fail, []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.requests.append(body)
                if outer.fail > 0:
                    outer.fail -= 1
                    self.send_response(503)
                    self.end_headers()
                    return
                payload = {"id": "x", "object": "chat.completion", "created": 0, "model": body["model"],
                           "choices": [{"index": 0, "finish_reason": "stop",
                                        "message": {"role": "assistant", "content": "sum() is off by one"}}]}
                data = json.dumps(payload).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.httpd = HTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_port}/v1"

    def close(self):
        self.httpd.shutdown()


@pytest.fixture
def server():
    s = _Server(fail=1)
    yield s
    s.close()


def test_llm_rewrite_retries_a_503_and_keeps_the_evidence_as_hints(server, monkeypatch):
    monkeypatch.setattr("time.sleep", lambda s: None)
    writer = LlmStatementWriter("tiny", base_url=server.url, api_key="k")
    task = {"problem_statement": "1 test(s) fail that used to pass:\n- t.py::test_sum"}
    out = WithLlmStatement(lambda t: t, writer)(task)
    assert out["problem_statement"] == "sum() is off by one"
    assert out["hints_text"] == task["problem_statement"]
    assert len(server.requests) == 2 and "t.py::test_sum" in server.requests[-1]["messages"][0]["content"]


def test_llm_is_not_called_for_rejected_tasks(server):
    writer = LlmStatementWriter("tiny", base_url=server.url)
    assert WithLlmStatement(lambda t: Rejection("x"), writer)({}).reason == "x"
    assert server.requests == []


def test_llm_unavailable_is_an_infra_error(monkeypatch):
    monkeypatch.setattr("time.sleep", lambda s: None)
    s = _Server(fail=10)
    try:
        with pytest.raises(InfraError):
            LlmStatementWriter("tiny", base_url=s.url, max_attempts=2)({"problem_statement": "p"})
    finally:
        s.close()
