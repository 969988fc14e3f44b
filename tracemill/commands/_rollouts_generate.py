"""`tracemill rollouts generate`: sample k graded rollouts per task from any OpenAI-compatible server.

Registered under `tracemill rollouts` by `tracemill/commands/rollouts.py`, which imports this module and
calls `register(rollouts_subparsers)` (the leading underscore keeps the top-level command discovery
from registering it on its own). Exit status: 0 ok, 2 usage/config error (server unreachable, model
not served, unknown repository), 3 more rollouts dead-lettered than --max-dead-letter-ratio allows
(outputs are still written; rerun the same command to retry them).
"""

from __future__ import annotations

import os
import sys

from tracemill.agent.client import ClientSettings
from tracemill.agent.generate import GenerateSettings, generate
from tracemill.agent.loop import AgentLimits
from tracemill.errors import ConfigError
from tracemill.sample import SAMPLE_REF

_AGENT = AgentLimits()
_CLIENT = ClientSettings(base_url="", model="")
_GEN = GenerateSettings()


def register(sub) -> None:
    p = sub.add_parser(
        "generate", help="sample k rollouts per task from an OpenAI-compatible server and grade them",
        description="Run the bash-first agent (tools bash, edit, create, submit; one call per step) against "
                    "any OpenAI-compatible server (vLLM, SGLang, llama.cpp, OpenAI). Every action runs in a "
                    "bubblewrap sandbox on a private copy of the task's repository at base_commit; each "
                    "submitted patch is graded with the task's hidden FAIL_TO_PASS/PASS_TO_PASS tests. Writes "
                    "DIR/trajectories.jsonl (schema trajectory, with resolved, reward, sample_index, per-step "
                    "policy_version), DIR/rejections.jsonl, DIR/manifest.json and DIR/run_info.json. Rerunning "
                    "the same command resumes: finished rollouts are kept, missing ones generated.")
    p.add_argument("--tasks", action="append", metavar="PATH",
                   help="task JSONL file (repeatable; default: the bundled sample, @sample/tasks.jsonl)")
    p.add_argument("--base-url", required=True, metavar="URL", help="server base URL, e.g. http://127.0.0.1:8000/v1")
    p.add_argument("--model", required=True, metavar="NAME", help="served model name")
    p.add_argument("-k", type=int, default=_GEN.k, metavar="K", help=f"samples per task (default {_GEN.k})")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder (resumed when it holds a run)")
    p.add_argument("--fresh", action="store_true", help="discard rollouts already in DIR instead of resuming")
    p.add_argument("--temperature", type=float, default=_GEN.temperature, help="sampling temperature (default 1.0)")
    p.add_argument("--top-p", type=float, default=None, help="nucleus sampling (default: the server's)")
    p.add_argument("--seed", type=int, default=_GEN.seed,
                   help="run seed; each sample sends seed=f(seed, instance_id, sample_index) (default 0)")
    p.add_argument("--concurrency", type=int, default=_GEN.concurrency,
                   help=f"rollouts in flight (default {_GEN.concurrency})")
    p.add_argument("--sandbox-slots", type=int, default=0,
                   help="sandboxed processes at once (default: the CPU count)")
    p.add_argument("--instance-id", action="append", default=[], metavar="ID", help="only this task (repeatable)")
    p.add_argument("--repo", action="append", default=[], metavar="NAME=PATH",
                   help="local git repository of a task repo (repeatable; tracemill/textkit is the bundled sample)")
    p.add_argument("--max-turns", type=int, default=_AGENT.max_turns, help=f"turns (default {_AGENT.max_turns})")
    p.add_argument("--max-tokens", type=int, default=_AGENT.max_tokens,
                   help=f"conversation tokens (default {_AGENT.max_tokens})")
    p.add_argument("--step-timeout", type=float, default=_AGENT.step_timeout_s,
                   help=f"seconds per sandboxed action (default {_AGENT.step_timeout_s:g})")
    p.add_argument("--rollout-timeout", type=float, default=_AGENT.rollout_timeout_s,
                   help=f"seconds per rollout, model time included (default {_AGENT.rollout_timeout_s:g})")
    p.add_argument("--request-timeout", type=float, default=_CLIENT.timeout_s,
                   help=f"seconds per model request; beyond it the rollout ends as timeout "
                        f"(default {_CLIENT.timeout_s:g})")
    p.add_argument("--observation-chars", type=int, default=_AGENT.observation_chars,
                   help=f"observation budget in characters, head and tail kept (default {_AGENT.observation_chars})")
    p.add_argument("--max-format-errors", type=int, default=_AGENT.max_format_errors,
                   help=f"consecutive malformed tool calls that end a rollout (default {_AGENT.max_format_errors})")
    p.add_argument("--max-attempts", type=int, default=_CLIENT.max_attempts,
                   help=f"attempts per request on 429/5xx/connection errors (default {_CLIENT.max_attempts})")
    p.add_argument("--backoff", type=float, default=_CLIENT.backoff_base_s,
                   help=f"base of the exponential backoff in seconds (default {_CLIENT.backoff_base_s:g})")
    p.add_argument("--max-completion-tokens", type=int, default=None,
                   help="max_tokens sent with each request (default: the server's)")
    p.add_argument("--version-header", metavar="HEADER", default=None,
                   help="response header naming the policy version (default: the response's model field)")
    p.add_argument("--api-key-env", default="OPENAI_API_KEY", metavar="VAR",
                   help="environment variable holding the API key (default OPENAI_API_KEY; 'EMPTY' when unset)")
    p.add_argument("--grading-timeout", type=float, default=_GEN.grading_timeout_s,
                   help=f"seconds for the hidden-test run of one patch (default {_GEN.grading_timeout_s:g})")
    p.add_argument("--python", default=None, help="interpreter for grading (default: this one)")
    p.add_argument("--max-dead-letter-ratio", type=float, default=0.5,
                   help="exit 3 when more than this share of planned rollouts was dead-lettered (default 0.5)")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.set_defaults(func=run_generate, accepts_beam_args=False)


def parse_repos(items: list[str]) -> dict[str, str]:
    repos = {"tracemill/textkit": SAMPLE_REF}
    for item in items:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise ConfigError(f"--repo expects NAME=PATH, got {item!r}")
        repos[name] = path
    return repos


def settings_from(args) -> tuple[GenerateSettings, ClientSettings]:
    agent = AgentLimits(max_turns=args.max_turns, max_tokens=args.max_tokens, step_timeout_s=args.step_timeout,
                        rollout_timeout_s=args.rollout_timeout, observation_chars=args.observation_chars,
                        max_format_errors=args.max_format_errors)
    settings = GenerateSettings(
        tasks=tuple(args.tasks or _GEN.tasks), k=args.k, temperature=args.temperature, top_p=args.top_p,
        seed=args.seed, concurrency=args.concurrency, sandbox_slots=args.sandbox_slots,
        instance_ids=tuple(args.instance_id), repos=parse_repos(args.repo), agent=agent,
        grading_timeout_s=args.grading_timeout, python=args.python)
    if args.max_attempts < 1 or args.request_timeout <= 0:
        raise ConfigError("--max-attempts must be >= 1 and --request-timeout > 0")
    client = ClientSettings(base_url=args.base_url, model=args.model,
                            api_key=os.environ.get(args.api_key_env) or "EMPTY", timeout_s=args.request_timeout,
                            max_attempts=args.max_attempts, backoff_base_s=args.backoff,
                            version_header=args.version_header, max_completion_tokens=args.max_completion_tokens)
    return settings.validate(), client


def summary(manifest: dict, run_info: dict) -> str:
    r = manifest["counts"]["rollouts"]
    t = manifest["counts"]["total"]
    lines = ["", "  tracemill rollouts generate",
             (f"  task lines      {t['input']:>8}   sampled {t['emitted']}, rejected "
              f"{t['filtered'] + t['deduplicated'] + t['dead_lettered']}"),
             f"  rollouts        {r['planned']:>8}   written {r['written']}, dead-lettered {r['dead_lettered']}",
             f"  exit status     {r['by_exit_status']}",
             f"  reasons         {r['by_reason']}"]
    for row in manifest["metrics"]["pass_at_k"]:
        n = row["n"]
        lines.append(f"  {row['instance_id']:<15} pass@1 {row['pass@1']:.3f}  pass@{n} {row[f'pass@{n}']:.3f}")
    lines += [(f"  this run        {run_info['rollouts_written']} rollouts in {run_info['seconds']}s "
               f"({run_info['rollouts_per_min']} /min, {run_info['sandbox_steps_per_s']} sandbox steps/s)"),
              f"  counts {'reconciled' if manifest['counts']['reconciled'] else 'NOT RECONCILED'}", ""]
    return "\n".join(lines)


def run_generate(args, beam_args) -> int:
    settings, client = settings_from(args)
    out = args.out.rstrip("/")
    if not args.quiet:
        print(f"tracemill rollouts generate -> {out} ({client.model} at {client.base_url})", file=sys.stderr)
    result = generate(settings, client, out, fresh=args.fresh, quiet=args.quiet)
    manifest = result["manifest"]
    print(summary(manifest, result["run_info"]), file=sys.stderr)
    r = manifest["counts"]["rollouts"]
    if not manifest["counts"]["reconciled"]:
        print("tracemill: error: rollout counts do not reconcile", file=sys.stderr)
        return 3
    if r["planned"] and r["dead_lettered"] / r["planned"] > args.max_dead_letter_ratio:
        print(f"tracemill: error: {r['dead_lettered']} of {r['planned']} rollouts dead-lettered, above "
              f"--max-dead-letter-ratio={args.max_dead_letter_ratio}; see {out}/rejections.jsonl and rerun to "
              f"retry them", file=sys.stderr)
        return 3
    return 0
