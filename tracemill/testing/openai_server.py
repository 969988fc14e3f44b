"""A real OpenAI-compatible HTTP server on loopback, for tests and benchmarks of rollout generation.

`OpenAITestServer` serves `POST /v1/chat/completions` (tool calls included) and `GET /v1/models` from a
`ThreadingHTTPServer` in a background thread. Behind it sits `ScriptedPolicyTestDouble`: a **test
double, not a model**. Keyed by (task, sample) through the `X-Tracemill-Rollout` header and by step
through the number of assistant turns in the request, it replays one scripted behaviour:

  solve     reads the file, applies the task's gold patch hunk by hunk with `edit`, runs the visible
            tests, submits                                      -> resolved
  fail      makes a harmless but useless edit and submits       -> fail
  give_up   submits at once                                     -> no_patch
  loop      runs `ls` forever                                   -> turn_limit
  timeout   answers step 1 only after sleeping past any client timeout -> timeout
  malformed invalid JSON arguments, an unknown tool, a reply without a tool call -> format_error
  recover   one malformed call, then solves                     -> resolved
  flaky     every step first answers 429 then 503, then solves  -> resolved (after retries)
  down      always 503                                          -> dead-lettered (policy_unavailable)

The served policy version can be changed at any time (`set_version`), as an RL trainer pushing new
weights into a running inference server would; it is reported in the response `model` field
(`<served model>@<version>`) and in the `X-Policy-Version` header.

Run standalone: `python -m tracemill.testing.openai_server --port 8000` (bundled sample tasks).
"""

from __future__ import annotations

import argparse
import itertools
import json
import threading
import time
from collections.abc import Callable, Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self

import unidiff

from tracemill.agent.client import ROLLOUT_HEADER
from tracemill.tokens import count_messages

BEHAVIOURS = ("solve", "fail", "give_up", "loop", "timeout", "malformed", "recover", "flaky", "down")
VERSION_HEADER = "X-Policy-Version"
# A mix of outcomes per task for default runs; no sleeping behaviour, so it is quick.
DEFAULT_CYCLE = ("solve", "fail", "solve", "loop", "recover", "malformed", "flaky", "give_up")

Plan = Callable[[str, int], str]


def default_plan(instance_id: str, sample_index: int) -> str:
    offset = sum(map(ord, instance_id))  # tasks start at different points of the cycle
    return DEFAULT_CYCLE[(offset + sample_index) % len(DEFAULT_CYCLE)]


def gold_edits(patch: str) -> list[dict]:
    """One `edit` (path, old, new) per hunk of a unified diff: old = context + removed, new = context + added."""
    edits = []
    for pfile in unidiff.PatchSet(patch):
        for hunk in pfile:
            old = "".join(line.value for line in hunk if line.is_context or line.is_removed)
            new = "".join(line.value for line in hunk if line.is_context or line.is_added)
            edits.append({"path": pfile.path, "old": old, "new": new})
    return edits


def useless_edit(patch: str) -> dict:
    """An edit that changes the right file without fixing anything: a comment on a line the fix removes."""
    first = gold_edits(patch)[0]
    removed = next(line.value for pf in unidiff.PatchSet(patch) for h in pf for line in h if line.is_removed)
    target = removed.rstrip("\n")
    return {"path": first["path"], "old": removed, "new": f"{target}  # checked: looks right\n"}


def _call(name: str, args: dict | str, call_id: str) -> dict:
    arguments = args if isinstance(args, str) else json.dumps(args)
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


class ScriptedPolicyTestDouble:
    """A scripted stand-in for a policy model (test double): replays behaviours keyed by task and sample."""

    def __init__(self, tasks: Iterable[dict], plan: Plan | str | dict[str, str | list[str]] = default_plan, *,
                 served_model: str = "scripted-policy", version: str = "v1", timeout_sleep_s: float = 5.0,
                 flaky_failures: int = 2, on_request: Callable[[str, int], None] | None = None):
        self.tasks = {t["instance_id"]: t for t in tasks}
        self.plan = plan
        self.served_model = served_model
        self.timeout_sleep_s = timeout_sleep_s
        self.flaky_failures = flaky_failures
        self.on_request = on_request  # test hook, called with (rollout, step) before answering
        self.requests: list[dict] = []
        self.stopping = threading.Event()
        self._version = version
        self._lock = threading.Lock()
        self._failures: dict[tuple[str, int], int] = {}

    # -- versions --------------------------------------------------------------------------------
    @property
    def version(self) -> str:
        with self._lock:
            return self._version

    def set_version(self, version: str) -> None:
        """Swap the served weights: answers from now on report `version`."""
        with self._lock:
            self._version = version

    def behaviour(self, instance_id: str, sample_index: int) -> str:
        if isinstance(self.plan, str):
            return self.plan
        if callable(self.plan):
            return self.plan(instance_id, sample_index)
        chosen = self.plan.get(instance_id, "solve")
        return chosen if isinstance(chosen, str) else chosen[sample_index % len(chosen)]

    # -- one request -----------------------------------------------------------------------------
    def respond(self, body: dict, headers: dict[str, str]) -> tuple[int, dict, dict]:
        """(HTTP status, extra headers, JSON body) for one chat-completion request."""
        if body.get("model") != self.served_model:
            return 404, {}, _error(f"The model `{body.get('model')}` does not exist.", "model_not_found")
        messages = body.get("messages") or []
        rollout = headers.get(ROLLOUT_HEADER.lower(), "")
        instance_id, _, sample = rollout.rpartition("/")
        if instance_id not in self.tasks or not sample.isdigit():
            return 400, {}, _error(f"unknown rollout {rollout!r}: send {ROLLOUT_HEADER}: <instance_id>/<sample>",
                                   "invalid_request_error")
        sample_index = int(sample)
        step = sum(1 for m in messages if m.get("role") == "assistant")
        if self.on_request:
            self.on_request(rollout, step)
        behaviour = self.behaviour(instance_id, sample_index)
        with self._lock:
            self.requests.append({"rollout": rollout, "step": step, "behaviour": behaviour,
                                  "temperature": body.get("temperature"), "seed": body.get("seed"),
                                  "version": self._version})
        if behaviour == "down":
            return 503, {}, _error("the server is overloaded", "server_error")
        if behaviour == "flaky":
            with self._lock:
                n = self._failures.get((rollout, step), 0)
                self._failures[(rollout, step)] = n + 1
            if n < self.flaky_failures:
                if n % 2 == 0:
                    return 429, {"Retry-After": "0"}, _error("rate limit reached", "rate_limit_exceeded")
                return 503, {}, _error("the server is overloaded", "server_error")
        if behaviour == "timeout" and step == 1:
            self.stopping.wait(self.timeout_sleep_s)  # longer than the client waits
        message = self._message(self.tasks[instance_id], behaviour, sample_index, step)
        version = self.version
        completion = {
            "id": f"chatcmpl-{instance_id}-{sample_index}-{step}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": f"{self.served_model}@{version}",
            "choices": [{"index": 0, "message": message,
                         "finish_reason": "tool_calls" if message.get("tool_calls") else "stop"}],
            "usage": {"prompt_tokens": count_messages(messages),
                      "completion_tokens": count_messages([message]),
                      "total_tokens": count_messages(messages) + count_messages([message])},
        }
        return 200, {VERSION_HEADER: version}, completion

    def _message(self, task: dict, behaviour: str, sample: int, step: int) -> dict:
        cid = f"call_{sample}_{step}"
        edits = gold_edits(task["patch"])
        path = edits[0]["path"]
        look = [f"cat {path}", f"sed -n '1,200p' {path}", f"grep -n '' {path}", f"head -n 200 {path}"][sample % 4]
        test_file = next((t.split("::")[0] for t in task["PASS_TO_PASS"]), "tests")
        if behaviour == "recover":
            if step == 0:
                return {"role": "assistant", "content": "Let me look.",
                        "tool_calls": [_call("bash", '{"command": "cat ' + path, cid)]}
            behaviour, step = "solve", step - 1
        if behaviour in ("solve", "flaky"):
            script = [("bash", {"command": look}), *[("edit", e) for e in edits],
                      ("bash", {"command": f"python -m pytest -p no:terminal {test_file} && echo tests pass"}), ("submit", {})]
        elif behaviour == "fail":
            script = [("bash", {"command": look}), ("edit", useless_edit(task["patch"])), ("submit", {})]
        elif behaviour == "give_up":
            script = [("submit", {})]
        elif behaviour in ("loop", "timeout"):
            script = [("bash", {"command": "ls"})] * (step + 1)
        elif behaviour == "malformed":
            bad = [{"role": "assistant", "content": None,
                    "tool_calls": [_call("bash", '{"command": "ls"', cid)]},
                   {"role": "assistant", "content": None,
                    "tool_calls": [_call("python", {"code": "print(1)"}, cid)]},
                   {"role": "assistant", "content": "I think the bug is in the parser."}]
            return bad[step % len(bad)]
        else:
            raise ValueError(f"unknown behaviour {behaviour!r}")
        name, args = script[min(step, len(script) - 1)]
        thought = f"[sample {sample}] step {step}: {name}"
        return {"role": "assistant", "content": thought, "tool_calls": [_call(name, args, cid)]}


def _error(message: str, code: str) -> dict:
    return {"error": {"message": message, "type": code, "param": None, "code": code}}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    policy: ScriptedPolicyTestDouble  # set on the per-server subclass

    def log_message(self, format: str, *args) -> None:
        pass

    def _send(self, status: int, body: dict, headers: dict | None = None) -> None:
        data = json.dumps(body).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a timeout); nothing to tell it

    def do_GET(self) -> None:
        if self.path.rstrip("/") == "/v1/models":
            self._send(200, {"object": "list", "data": [{"id": self.policy.served_model, "object": "model",
                                                         "created": 0, "owned_by": "tracemill-test-double"}]})
        else:
            self._send(404, _error(f"no route {self.path}", "not_found"))

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        if self.path.rstrip("/") != "/v1/chat/completions":
            self._send(404, _error(f"no route {self.path}", "not_found"))
            return
        try:
            body = json.loads(raw)
        except json.JSONDecodeError:
            self._send(400, _error("request body is not JSON", "invalid_request_error"))
            return
        try:
            status, headers, payload = self.policy.respond(body, {k.lower(): v for k, v in self.headers.items()})
        except Exception as exc:  # noqa: BLE001 - a broken script must show up as a server error, not a hang
            status, headers, payload = 500, {}, _error(f"{type(exc).__name__}: {exc}", "server_error")
        self._send(status, payload, headers)


class OpenAITestServer:
    """The loopback server; use as a context manager. `base_url` ends in /v1 as clients expect."""

    def __init__(self, policy: ScriptedPolicyTestDouble, host: str = "127.0.0.1", port: int = 0):
        self.policy = policy
        handler = type("Handler", (_Handler,), {"policy": policy})
        self.httpd = ThreadingHTTPServer((host, port), handler)
        self.httpd.daemon_threads = True
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="openai-test-server", daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    def start(self) -> OpenAITestServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.policy.stopping.set()  # wake sleeping `timeout` handlers
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    from tracemill import sample

    p = argparse.ArgumentParser(description="Serve the scripted policy test double on loopback.")
    p.add_argument("--port", type=int, default=8000, help="port on 127.0.0.1 (default 8000)")
    p.add_argument("--tasks", default=str(sample.data_path("tasks.jsonl")), help="tasks JSONL the double knows")
    p.add_argument("--behaviour", choices=BEHAVIOURS, help="one behaviour for every rollout (default: a mix)")
    args = p.parse_args(argv)
    tasks = []
    with open(args.tasks, encoding="utf-8") as fh:
        for line in fh:
            try:
                tasks.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    tasks = [t for t in tasks if isinstance(t, dict) and t.get("instance_id") and t.get("patch")]
    plan: Plan = (lambda _i, _s: args.behaviour) if args.behaviour else default_plan
    with OpenAITestServer(ScriptedPolicyTestDouble(tasks, plan), port=args.port) as server:
        print(f"serving scripted-policy at {server.base_url}", flush=True)
        try:
            for _ in itertools.count():
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
