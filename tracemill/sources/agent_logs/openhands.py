"""OpenHands event streams and evaluation-output rows -> canonical trajectories.

An event list (`trajs/*.json`) holds actions and observations with `id`, `source`, `cause`, and,
for LLM-chosen actions, `tool_call_metadata.model_response` -- the full OpenAI completion. One
completion may produce several action events; its assistant message (content + all tool calls) is
emitted once, at its first action, with the served `model` as the step's policy version.
Observations that answer a tool call become `tool` messages. Events that are not part of the
conversation (`recall`, state changes, condensation) are listed in `metadata.events_not_in_conversation`
by id and kind, not dropped silently. An evaluation-output row (`output.jsonl`) wraps such a
`history` with `instance_id`, `test_result.git_patch` (the final patch), `metrics` and `error`.
"""

from __future__ import annotations

from typing import Any

from tracemill.sources.agent_logs import _common as c

NAME = "openhands"


def _is_event(e: Any) -> bool:
    return isinstance(e, dict) and "id" in e and "source" in e and ("action" in e or "observation" in e)


def sniff(obj: Any) -> bool:
    if isinstance(obj, list):
        return bool(obj) and all(_is_event(e) for e in obj)
    return isinstance(obj, dict) and isinstance(obj.get("history"), list) and "instance_id" in obj \
        and ("test_result" in obj or "instruction" in obj)


def to_trajectory(obj: Any, where: c.Where) -> dict:
    if not sniff(obj):
        raise where.error("$", "not an OpenHands event list or evaluation-output row")
    row = obj if isinstance(obj, dict) else None
    events = row["history"] if row else obj
    notes: dict = {}
    instance_id = (row or {}).get("instance_id") or c.stem_instance_id(where.source, (".json",))
    if not instance_id:
        raise where.error("instance_id", "no instance id")
    traj_key = c.traj_id_for(NAME, str(instance_id), obj)
    messages, declared_tools, versions = _conversation(events, where, "history" if row else "$", notes)
    if not messages:
        raise where.error("history", "no conversational events")
    model = None
    patch = None
    exit_status = None
    if row:
        meta = row.get("metadata") if isinstance(row.get("metadata"), dict) else {}
        model = (meta.get("llm_config") or {}).get("model")
        tr = row.get("test_result") if isinstance(row.get("test_result"), dict) else {}
        patch = tr.get("git_patch") if isinstance(tr.get("git_patch"), str) else None
        notes["agent_class"] = meta.get("agent_class")
        notes["max_iterations"] = meta.get("max_iterations")
        notes["metrics"] = _metrics_summary(row.get("metrics"))
        instance = row.get("instance") if isinstance(row.get("instance"), dict) else {}
        notes["repo"] = instance.get("repo")
        notes["base_commit"] = instance.get("base_commit") or (instance.get("base") or {}).get("sha")
        if row.get("error"):
            notes["error"] = str(row["error"])
            exit_status = "error"
    if exit_status is None:
        last = next((e for e in reversed(events) if isinstance(e, dict) and "action" in e
                     and e.get("source") == "agent"), None)
        exit_status = "finished" if last and last.get("action") == "finish" else None
    model = model or next((v for v in versions if v), None)
    return c.trajectory(
        traj_id=traj_key, instance_id=str(instance_id), agent=NAME, model=model, messages=messages,
        tools=c.tools_for(messages, declared_tools), patch=patch, exit_status=exit_status,
        source_format="openhands-eval-output" if row else "openhands-events", metadata=c.finish_notes(notes),
        policy_versions=(versions[0], versions[-1]) if versions else (None, None))


def _metrics_summary(metrics: Any) -> dict | None:
    if not isinstance(metrics, dict):
        return None
    return {"accumulated_cost": metrics.get("accumulated_cost"),
            "accumulated_token_usage": metrics.get("accumulated_token_usage")}


def _conversation(events: list, where: c.Where, base: str, notes: dict):
    out: list[dict] = []
    declared: list[dict] | None = None
    versions: list[str] = []
    emitted_responses: set[str] = set()
    skipped = []
    for i, e in enumerate(events):
        f = f"{base}[{i}]" if base != "$" else f"[{i}]"
        if not isinstance(e, dict):
            raise where.error(f, "event is not an object")
        tcm = e.get("tool_call_metadata") if isinstance(e.get("tool_call_metadata"), dict) else None
        action, observation, source = e.get("action"), e.get("observation"), e.get("source")
        args = e.get("args") if isinstance(e.get("args"), dict) else {}
        if action == "system":
            out.append(c.message("system", c.text_of(args.get("content", e.get("message")), where,
                                                      f"{f}.args.content", notes)))
            declared = args.get("tools") if isinstance(args.get("tools"), list) else declared
        elif action and tcm:
            resp = tcm.get("model_response") if isinstance(tcm.get("model_response"), dict) else {}
            resp_id = str(resp.get("id") or f"event-{e.get('id')}")
            if resp_id in emitted_responses:
                continue  # a later action of a completion already emitted with all its tool calls
            emitted_responses.add(resp_id)
            choices = resp.get("choices") or []
            msg = choices[0].get("message") if choices and isinstance(choices[0], dict) else None
            if not isinstance(msg, dict):
                raise where.error(f"{f}.tool_call_metadata.model_response.choices[0].message", "missing")
            calls = c.tool_calls_of(msg.get("tool_calls"), where,
                                    f"{f}.tool_call_metadata.model_response.choices[0].message.tool_calls")
            version = resp.get("model") if isinstance(resp.get("model"), str) else None
            if version:
                versions.append(version)
            out.append(c.message("assistant", c.text_of(msg.get("content"), where, f"{f}...message.content", notes),
                                 tool_calls=calls, reasoning_content=msg.get("reasoning_content"),
                                 policy_version=version))
        elif observation and tcm and tcm.get("tool_call_id"):
            out.append(c.message("tool", c.text_of(e.get("content", e.get("message")), where, f"{f}.content", notes),
                                 tool_call_id=str(tcm["tool_call_id"])))
        elif action == "message" and source in ("user", "agent"):
            text = args.get("content", e.get("message"))
            out.append(c.message("user" if source == "user" else "assistant",
                                 c.text_of(text, where, f"{f}.args.content", notes)))
        else:
            skipped.append({"id": e.get("id"), "kind": f"{'action' if action else 'observation'}:{action or observation}",
                            "source": source})
    if skipped:
        notes["events_not_in_conversation"] = skipped
    return out, declared, versions
