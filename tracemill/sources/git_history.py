"""Candidate tasks from a repository's history: merged PRs, squash commits naming #NNN, plain commits.

The walk follows the first-parent chain of a revision (newest first), so each merged PR is seen
once, as its merge or squash commit, with its first parent as the base. A candidate's diff is split
into `patch` (code) and `test_patch` (tests) by a real diff parser. The problem statement is the
PR/commit message, or, given a GitHub API export, the text of the issue the PR closes.
Only `git log`/`git diff`/`git archive` ever touch the repository: it is never modified.
"""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tracemill.errors import ConfigError
from tracemill.records import ORIGIN, Rejection
from tracemill.verify.patches import is_test_path, split_patch

_MERGE_PR = re.compile(r"^Merge pull request #(\d+)", re.IGNORECASE)
_SQUASH_PR = re.compile(r"\(#(\d+)\)\s*$|^#(\d+)\b|\s#(\d+)\s*$")
_CLOSES = re.compile(r"\b(?:close[sd]?|fix(?:e[sd])?|resolve[sd]?)\s*:?\s+#(\d+)", re.IGNORECASE)


def _git(repo: str, args: list[str]) -> str:
    res = subprocess.run(["git", "-C", repo, *args], capture_output=True, check=False)
    if res.returncode != 0:
        raise ConfigError(f"git {' '.join(args[:2])} failed in {repo}: {res.stderr.decode(errors='replace')[:300]}")
    return res.stdout.decode("utf-8", errors="replace")


@dataclass(frozen=True)
class CommitInfo:
    sha: str
    parents: tuple[str, ...]
    date: str
    message: str

    @property
    def subject(self) -> str:
        return self.message.splitlines()[0] if self.message else ""

    @property
    def body(self) -> str:
        return "\n".join(self.message.splitlines()[1:]).strip()


def pr_number(info: CommitInfo) -> tuple[str, int | None]:
    """(kind, PR number): merge | squash | plain."""
    m = _MERGE_PR.match(info.subject)
    if m and len(info.parents) > 1:
        return "merge", int(m.group(1))
    if len(info.parents) > 1:
        return "merge", None
    m = _SQUASH_PR.search(info.subject)
    if m:
        return "squash", int(next(g for g in m.groups() if g))
    return "plain", None


def _log(repo: str, args: list[str]) -> list[CommitInfo]:
    out = _git(repo, ["log", "--format=%H%x00%P%x00%cI%x00%B%x1e", *args])
    infos = []
    for rec in out.split("\x1e"):
        rec = rec.strip("\n")
        if not rec:
            continue
        sha, parents, date, message = rec.split("\x00", 3)
        infos.append(CommitInfo(sha, tuple(parents.split()), date, message.strip()))
    return infos


def _shape_ok(repo: str, info: CommitInfo) -> bool:
    if not info.parents:
        return False
    names = _git(repo, ["diff", "--name-only", "--no-renames", info.parents[0], info.sha]).split()
    py = [n for n in names if n.endswith(".py")]
    return any(not is_test_path(n) for n in py) and any(is_test_path(n) for n in py)


def walk(repo: str, rev: str = "HEAD", commits: list[str] | None = None,
         max_candidates: int | None = None) -> list[CommitInfo]:
    """Commits to consider, newest first; stops once `max_candidates` have the right shape."""
    if commits:
        out = []
        for c in commits:
            out += _log(repo, ["-1", c])
        return out
    infos = _log(repo, ["--first-parent", rev])
    if max_candidates is None:
        return infos
    out, n = [], 0
    for info in infos:
        out.append(info)
        n += _shape_ok(repo, info)
        if n >= max_candidates:
            break
    return out


@dataclass(frozen=True)
class GithubExport:
    """Pulls and issues from the GitHub REST API, as {"pulls": [...], "issues": [...]} or one list."""

    pulls: dict[int, dict]
    issues: dict[int, dict]
    by_merge_sha: dict[str, int]

    @classmethod
    def load(cls, path: Path) -> GithubExport:
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise ConfigError(f"cannot read GitHub export {path}: {exc}") from exc
        items = (data.get("pulls", []) + data.get("issues", [])) if isinstance(data, dict) else list(data)
        pulls, issues = {}, {}
        for it in items:
            if not isinstance(it, dict) or "number" not in it:
                continue
            is_pull = "merge_commit_sha" in it or "merged_at" in it or "head" in it
            (pulls if is_pull else issues)[int(it["number"])] = it
        by_sha = {p["merge_commit_sha"]: n for n, p in pulls.items() if p.get("merge_commit_sha")}
        return cls(pulls, issues, by_sha)

    def statement(self, number: int | None, sha: str) -> tuple[str, int | None, int | None] | None:
        """(problem statement, PR number, linked issue number) from the export, if it knows the PR."""
        number = number if number in self.pulls else self.by_merge_sha.get(sha)
        if number is None:
            return None
        pull = self.pulls[number]
        for text in (pull.get("body") or "", pull.get("title") or ""):
            for m in _CLOSES.finditer(text):
                issue = self.issues.get(int(m.group(1)))
                if issue:
                    return _issue_text(issue), number, int(m.group(1))
        return _issue_text(pull), number, None


def _issue_text(item: dict) -> str:
    return f"{(item.get('title') or '').strip()}\n\n{(item.get('body') or '').strip()}".strip()


def commit_records(repo: str, infos: list[CommitInfo], repo_name: str) -> list[dict]:
    """Plain records of the walked commits, tagged with their origin, for the candidate stage."""
    return [{ORIGIN: {"kind": "commit", "source": repo_name, "line": i}, "instance_id": f"commit:{c.sha}",
             "sha": c.sha, "parents": list(c.parents), "date": c.date, "message": c.message}
            for i, c in enumerate(infos)]


@dataclass
class CandidateBuilder:
    """Stage function: commit record -> candidate (patch/test_patch/statement) | Rejection for its shape."""

    repo_path: str
    repo: str
    license: str | None = None
    export: GithubExport | None = None

    def __call__(self, rec: dict) -> dict | Rejection:
        info = CommitInfo(rec["sha"], tuple(rec["parents"]), rec["date"], rec["message"])
        if not info.parents:
            return Rejection("root_commit")
        kind, number = pr_number(info)
        base = info.parents[0]
        diff = _git(self.repo_path, ["diff", "--no-color", "--no-ext-diff", "--no-renames", "--binary",
                                     base, info.sha])
        if not diff.strip():
            return Rejection("empty_diff")
        if "GIT binary patch" in diff:
            return Rejection("binary_change")
        patch, test_patch = split_patch(diff)
        code_py = [line for line in patch.splitlines() if line.startswith("diff --git") and line.endswith(".py")]
        test_py = [line for line in test_patch.splitlines() if line.startswith("diff --git") and line.endswith(".py")]
        if not code_py:
            return Rejection("no_code_change", detail="no non-test Python file changed")
        if not test_py:
            return Rejection("no_test_change", detail="no test Python file changed")
        statement, linked = f"{info.subject}\n\n{info.body}".strip(), None
        if self.export is not None:
            found = self.export.statement(number, info.sha)
            if found:
                statement, number, linked = found
        slug = self.repo.replace("/", "__")
        source = "pr" if number is not None else "commit"
        instance_id = f"{slug}-{number}" if number is not None else f"{slug}-{info.sha[:12]}"
        return {
            ORIGIN: rec.get(ORIGIN),
            "instance_id": instance_id,
            "repo": self.repo,
            "base_commit": base,
            "patch": patch,
            "test_patch": test_patch,
            "bug_patch": None,
            "problem_statement": statement,
            "hints_text": None,
            "created_at": info.date,
            "version": None,
            "environment_setup_commit": base,
            "source": source,
            "license": self.license,
            "flags": [],
            "provenance": {"commit": info.sha, "kind": kind, "pr_number": number, "linked_issue": linked,
                           "title": info.subject},
        }
