"""CWM's text rendering of a trace, and its parser (the round-trip proves the rendering lossless).

Format, as published in facebookresearch/cwm (PROMPTING_GUIDE.md "Trace Prediction",
demos/cwmdbg.py):

    <|trace_context_start|>$CONTEXT<|frame_sep|>
    <|call_sep|>$LOCALS<|action_sep|>$SOURCE<|frame_sep|>
    <|line_sep|>$LOCALS<|action_sep|>$SOURCE<|frame_sep|>
    <|return_sep|><|action_sep|>$SOURCE<|arg_sep|>$VALUE<|frame_sep|>
    <|exception_sep|><|action_sep|>$SOURCE<|arg_sep|>$VALUE<|frame_sep|>

$CONTEXT is the source with the entry function's first line suffixed `  # << START_OF_TRACE`.
$LOCALS is `json.dumps` of {name: repr string}; a value unchanged since the previous observation
of the same frame is written "..". Like cwmdbg's resolver, which stops at call and return frames,
a ".." never reaches back across a call or a return (after a nested call returns, the caller's
locals are written out in full); exception frames carry no locals and are transparent. $VALUE is
`json.dumps` of the repr string. $SOURCE is the executed line with its indentation and newline.
`<|end_of_text|>`, which ends a trace in CWM's token stream, is the tokenizer's EOS and is left
to the trainer.
"""

from __future__ import annotations

import json

TRACE_CONTEXT_START = "<|trace_context_start|>"
FRAME_SEP = "<|frame_sep|>"
ACTION_SEP = "<|action_sep|>"
ARG_SEP = "<|arg_sep|>"
START_MARKER = "  # << START_OF_TRACE"
EVENT_SEP = {
    "call": "<|call_sep|>",
    "line": "<|line_sep|>",
    "return": "<|return_sep|>",
    "exception": "<|exception_sep|>",
}
UNCHANGED = ".."


def render_context(source: str, entry_line: int) -> str:
    """The source with `entry_line` (1-based) marked as the start of the trace."""
    lines = source.splitlines(keepends=True)
    if 0 < entry_line <= len(lines):
        line = lines[entry_line - 1]
        body = line.rstrip("\r\n")
        lines[entry_line - 1] = body + START_MARKER + line[len(body):] if line != body else body + START_MARKER
    text = "".join(lines)
    return text if text.endswith("\n") else text + "\n"


def _action(source_line: str) -> str:
    return ACTION_SEP + source_line.rstrip("\r\n") + "\n"


def render_frames(events: list[dict]) -> str:
    """The frames of a trace, each ending in `<|frame_sep|>`."""
    out: list[str] = []
    last: tuple[int, dict] | None = None  # (frame id, locals) of the previous observation
    for ev in events:
        kind = ev["kind"]
        if kind in ("call", "line"):
            current = ev.get("locals") or {}
            if kind == "line" and last is not None and last[0] == ev["frame"]:
                shown = {k: (UNCHANGED if last[1].get(k) == v else v) for k, v in current.items()}
            else:
                shown = dict(current)
            out.append(EVENT_SEP[kind] + json.dumps(shown) + _action(ev["source"]) + FRAME_SEP)
            last = (ev["frame"], current)
        else:
            out.append(EVENT_SEP[kind] + _action(ev["source"]) + ARG_SEP + json.dumps(ev.get("value", ""))
                       + FRAME_SEP)
            if kind == "return":
                last = None
    return "".join(out)


def render_prompt(source: str, entry_line: int) -> str:
    """What a trace-prediction prompt ends with: context start, marked source, first frame_sep."""
    return TRACE_CONTEXT_START + render_context(source, entry_line) + FRAME_SEP


def render(source: str, events: list[dict], entry_line: int) -> str:
    """The full CWM text of one trace."""
    return render_prompt(source, entry_line) + render_frames(events)


def parse(text: str) -> tuple[str, list[dict]]:
    """(context, frames) of a CWM trace text; frames carry kind, locals (with ".."), source, value."""
    if not text.startswith(TRACE_CONTEXT_START):
        raise ValueError("not a CWM trace: missing <|trace_context_start|>")
    context, _, rest = text[len(TRACE_CONTEXT_START):].partition(FRAME_SEP)
    kinds = {sep: kind for kind, sep in EVENT_SEP.items()}
    frames: list[dict] = []
    for chunk in rest.split(FRAME_SEP)[:-1]:
        sep = next((s for s in kinds if chunk.startswith(s)), None)
        if sep is None:
            raise ValueError(f"frame without an event token: {chunk[:60]!r}")
        kind = kinds[sep]
        observation, _, action = chunk[len(sep):].partition(ACTION_SEP)
        frame = {"kind": kind, "locals": json.loads(observation) if observation else {}}
        if kind in ("return", "exception"):
            source, _, value = action.partition(ARG_SEP)
            frame.update(source=source.rstrip("\n"), value=json.loads(value))
        else:
            frame["source"] = action.rstrip("\n")
        frames.append(frame)
    return context, frames


def resolve_locals(frames: list[dict]) -> list[dict]:
    """Full locals of every call/line frame, ".." replaced as CWM's debugger does (walk back to
    the last concrete value, stopping at a call or return frame)."""
    resolved: list[dict] = []
    for i, frame in enumerate(frames):
        full = {}
        for name, value in frame["locals"].items():
            j = i
            while value == UNCHANGED:
                j -= 1
                if j < 0 or frames[j]["kind"] == "return":
                    raise ValueError(f"unresolvable '..' for {name!r} in frame {i}")
                value = resolved[j].get(name, UNCHANGED) if frames[j]["kind"] in ("call", "line") else UNCHANGED
                if frames[j]["kind"] == "call" and value == UNCHANGED:
                    raise ValueError(f"unresolvable '..' for {name!r} in frame {i}")
            full[name] = value
        resolved.append(full)
    return resolved
