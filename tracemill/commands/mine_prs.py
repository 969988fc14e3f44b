"""`tracemill mine-prs`: merged PRs and test-carrying commits of a git repository become verified tasks."""

from __future__ import annotations

import json
import time
from pathlib import Path

from tracemill.errors import ConfigError


def register(sub) -> None:
    p = sub.add_parser("mine-prs", help="mine merged PRs / commits with tests from a git repo into verified tasks",
                       description=__doc__)
    p.add_argument("--repo", required=True, type=Path, help="git work tree or bare repository (never modified)")
    p.add_argument("--out", required=True, type=Path, help="output dir: tasks.jsonl, rejections.jsonl, manifest.json")
    p.add_argument("--rev", default="HEAD", help="walk the first-parent history of this revision (default HEAD)")
    p.add_argument("--commits", nargs="+", default=None, metavar="SHA", help="only these commits")
    p.add_argument("--max-candidates", type=int, default=None,
                   help="stop walking once this many commits change both code and tests")
    p.add_argument("--github-export", type=Path, default=None,
                   help="GitHub API export (JSON) of pulls/issues: linked issue text becomes the problem statement")
    p.add_argument("--repeats", type=int, default=3, help="runs per side; mixed outcomes mark a test flaky (default 3)")
    p.add_argument("--workers", type=int, default=None, help="candidates validated in parallel (default: core count)")
    p.add_argument("--timeout", type=float, default=300.0, help="wall-clock limit per test run, seconds")
    p.add_argument("--collection-errors", choices=("keep", "reject"), default="keep",
                   help="tasks whose before side fails test collection: keep flagged, or reject (default keep)")
    p.set_defaults(func=run, accepts_beam_args=True)


def run(args, beam_args) -> int:
    from filters.task import TaskFilter, TaskFilterConfig
    from pipelines import tasks_from_history
    from tracemill.envs.snapshot import is_git_worktree
    from tracemill.runner import prepare_out_dir
    from tracemill.sources.git_history import CandidateBuilder, GithubExport, commit_records, walk
    from tracemill.taskgen.outputs import OWNED, write_manifest
    from tracemill.taskgen.repository import repo_name
    from tracemill.taskgen.validation import PrValidator, ValidationSettings

    repo = args.repo.resolve()
    if not (repo / ".git").exists() and not (repo / "HEAD").is_file() and not is_git_worktree(repo):
        raise ConfigError(f"not a git repository: {repo}")
    if args.max_candidates is not None and args.max_candidates < 1:
        raise ConfigError("--max-candidates must be >= 1")
    prepare_out_dir(str(args.out), OWNED)
    started = time.monotonic()
    name = repo_name(repo)
    infos = walk(str(repo), args.rev, args.commits, args.max_candidates)
    commits = commit_records(str(repo), infos, name)
    export = GithubExport.load(args.github_export) if args.github_export else None
    settings = ValidationSettings(repeats=args.repeats, timeout_s=args.timeout)
    tasks_from_history.run(
        commits, out_dir=args.out, beam_args=beam_args,
        make_candidate=CandidateBuilder(str(repo), name, None, export),
        validator=PrValidator(str(repo), name, settings),
        task_filter=TaskFilter(TaskFilterConfig(collection_error=args.collection_errors)),
        workers=args.workers)
    wall = time.monotonic() - started
    config = {"rev": args.rev, "commits": args.commits, "max_candidates": args.max_candidates,
              "github_export": str(args.github_export) if args.github_export else None, "repeats": args.repeats,
              "timeout_s": args.timeout, "collection_errors": args.collection_errors}
    head = infos[0].sha if infos else None
    manifest = write_manifest(args.out, pipeline="tasks_from_history", config=config, input_count=len(commits),
                              inputs=[{"path": str(repo), "kind": "git_history", "sha256": head or "",
                                       "records": len(commits)}])
    (args.out / "run_info.json").write_text(json.dumps({"wall_s": round(wall, 2), "commits": len(commits)},
                                                       indent=2) + "\n")
    total = manifest["counts"]["total"]
    print(f"mine-prs: {total['input']} commits -> {total['emitted']} tasks, {total['filtered']} filtered, "
          f"{total['deduplicated']} duplicates, {total['dead_lettered']} dead-lettered ({wall:.0f}s) -> {args.out}")
    return 0 if manifest["counts"]["reconciled"] else 1
