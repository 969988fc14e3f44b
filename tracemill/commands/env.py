"""`tracemill env build PATH`: detect, build (cached) and check a repository's test environment."""

from __future__ import annotations

import json
from pathlib import Path


def register(sub) -> None:
    p = sub.add_parser("env", help="repository test environments (detect, build once per dependency hash, check)",
                       description=__doc__)
    actions = p.add_subparsers(dest="env_action", metavar="ACTION", required=True)
    b = actions.add_parser("build", help="build the venv for PATH and run its clean suite; print the spec",
                           description="Detect how to install PATH and run its tests, build the venv once per "
                                       "(repo, dependency-files hash) in the cache dir, run the clean suite in the "
                                       "sandbox, and print the environment spec (JSON).")
    b.add_argument("path", type=Path, help="git work tree or source tree (never modified)")
    b.add_argument("--out", type=Path, default=None, help="also write the spec JSON here")
    b.add_argument("--min-pass-ratio", type=float, default=0.9,
                   help="reject the repository when its clean suite passes less than this (default 0.9)")
    b.add_argument("--timeout", type=float, default=600.0, help="wall-clock limit of the clean run, seconds")
    p.set_defaults(func=run, accepts_beam_args=False)


def run(args, beam_args) -> int:
    from tracemill.envs import cache_dir, check_clean_run, ensure_env, record_clean_run
    from tracemill.envs.snapshot import snapshot
    from tracemill.errors import ConfigError
    from tracemill.sandbox import SandboxLimits
    from tracemill.taskgen.repository import repo_name
    from tracemill.verify import workspace

    if not args.path.is_dir():
        raise ConfigError(f"not a directory: {args.path}")
    repo_path, commit = snapshot(args.path, cache_dir())
    tree = workspace.pristine_tree(repo_path, commit)
    spec = ensure_env(tree, repo_name(args.path))
    scratch = Path(str(tree) + "-clean")
    if not scratch.exists():
        import shutil

        shutil.copytree(tree, scratch, symlinks=True)
    summary = check_clean_run(spec, scratch, min_pass_ratio=args.min_pass_ratio,
                              limits=SandboxLimits(timeout_s=args.timeout))
    record_clean_run(spec, summary)
    text = json.dumps({**spec.to_json(), "base_commit": commit}, indent=2, sort_keys=True)
    if args.out:
        args.out.write_text(text + "\n")
    print(text)
    return 0
