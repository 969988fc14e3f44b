"""Regenerate tracemill/sample/tasks.jsonl and rollouts.jsonl from the sample repo (a dev tool).

Patches are real `git diff` output of edits applied to the materialized repository, so every patch
in the sample applies (or, for the one rollout meant not to, fails) exactly as it would in the wild.
Run: .venv/bin/python scripts/build_sample.py
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from pathlib import Path

from tracemill import sample
from tracemill.agent.tools import SYSTEM_PROMPT, TOOLS

REPO = sample.repo_path()
BASE = sample.base_commit()
OUT = Path(__file__).resolve().parents[1] / "tracemill" / "sample"
MODEL = "sim-policy-test-double"


def diff_of(edits: dict[str, str | None]) -> str:
    """git diff of the repo after writing `edits` (path -> new content, None = delete)."""
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp) / "r"
        shutil.copytree(REPO, work)
        for rel, content in edits.items():
            if content is None:
                (work / rel).unlink()
            else:
                (work / rel).parent.mkdir(parents=True, exist_ok=True)
                (work / rel).write_text(content)
        subprocess.run(["git", "add", "-A"], cwd=work, check=True)
        return subprocess.run(["git", "diff", "--cached", "--no-color"], cwd=work, check=True,
                              capture_output=True, text=True).stdout


def read(rel: str) -> str:
    return (REPO / rel).read_text()


def replaced(rel: str, old: str, new: str) -> str:
    text = read(rel)
    assert old in text, (rel, old)
    return text.replace(old, new, 1)


# ---- tasks -------------------------------------------------------------------------------------
ROMAN_FIX_OLD = """    total = 0
    for ch in text.upper():
        total += _VALUES[ch]
    return total
"""
ROMAN_FIX_NEW = """    values = [_VALUES[ch] for ch in text.upper()]
    total = 0
    for i, value in enumerate(values):
        if i + 1 < len(values) and value < values[i + 1]:
            total -= value
        else:
            total += value
    return total
"""
ROMAN_TESTS = read("tests/test_roman.py") + '''

@pytest.mark.parametrize("text,number", [("IV", 4), ("XLII", 42), ("MCMXCIV", 1994)])
def test_from_roman_subtractive(text, number):
    assert from_roman(text) == number
'''
DUR_TESTS = read("tests/test_durations.py") + '''

def test_seconds():
    assert parse_duration("1m30s") == 90


def test_seconds_only():
    assert parse_duration("45s") == 45
'''
SLUG_TESTS = read("tests/test_slug.py") + '''

def test_collapses_runs():
    assert slugify("Hello,  World!") == "hello-world"


def test_collapses_runs_custom_separator():
    assert slugify("a -- b", separator="_") == "a_b"
'''
STATS_TESTS = read("tests/test_stats.py") + '''

def test_median_even():
    assert median([4, 1, 3, 2]) == 2.5
'''
MEDIAN_OLD = "    return ordered[len(ordered) // 2]\n"
MEDIAN_NEW = ("    middle = len(ordered) // 2\n    if len(ordered) % 2:\n        return ordered[middle]\n"
              "    return (ordered[middle - 1] + ordered[middle]) / 2\n")


def nodeids(path: str, names: list[str]) -> list[str]:
    return [f"{path}::{n}" for n in names]


TASKS = [
    {
        "instance_id": "textkit-1",
        "problem_statement": "from_roman gives wrong results for subtractive numerals\n\n"
                             "`from_roman('IV')` returns 6 instead of 4, and `from_roman('MCMXCIV')` returns 2216.",
        "patch": diff_of({"textkit/roman.py": replaced("textkit/roman.py", ROMAN_FIX_OLD, ROMAN_FIX_NEW)}),
        "test_patch": diff_of({"tests/test_roman.py": ROMAN_TESTS}),
        "FAIL_TO_PASS": nodeids("tests/test_roman.py", ["test_from_roman_subtractive[IV-4]",
                                "test_from_roman_subtractive[XLII-42]", "test_from_roman_subtractive[MCMXCIV-1994]"]),
        "PASS_TO_PASS": nodeids("tests/test_roman.py", [f"test_to_roman[{n}-{t}]" for n, t in
                                [(1, "I"), (3, "III"), (4, "IV"), (9, "IX"), (14, "XIV"), (1994, "MCMXCIV")]]
                                + ["test_from_roman_additive", "test_from_roman_rejects_garbage", "test_to_roman_range"]),
    },
    {
        "instance_id": "textkit-2",
        "problem_statement": "parse_duration does not understand seconds\n\n"
                             "`parse_duration('1m30s')` raises `ValueError: unknown unit 's'`; seconds should be supported.",
        "patch": diff_of({"textkit/durations.py": replaced("textkit/durations.py", '"m": 60}', '"m": 60, "s": 1}')}),
        "test_patch": diff_of({"tests/test_durations.py": DUR_TESTS}),
        "FAIL_TO_PASS": nodeids("tests/test_durations.py", ["test_seconds", "test_seconds_only"]),
        "PASS_TO_PASS": nodeids("tests/test_durations.py", ["test_hours_and_minutes", "test_days_with_space",
                                "test_rejects_unknown_unit", "test_format_roundtrip"]),
    },
    {
        "instance_id": "textkit-3",
        "problem_statement": "slugify leaves repeated separators\n\n"
                             "`slugify('Hello,  World!')` gives `hello---world` instead of `hello-world`.",
        "patch": diff_of({"textkit/slug.py": replaced("textkit/slug.py", 'r"[^a-zA-Z0-9]"', 'r"[^a-zA-Z0-9]+"')}),
        "test_patch": diff_of({"tests/test_slug.py": SLUG_TESTS}),
        "FAIL_TO_PASS": nodeids("tests/test_slug.py", ["test_collapses_runs", "test_collapses_runs_custom_separator"]),
        "PASS_TO_PASS": nodeids("tests/test_slug.py", ["test_simple", "test_accents", "test_custom_separator"]),
    },
    {
        "instance_id": "textkit-4",
        "problem_statement": "median is wrong for an even number of values\n\n"
                             "`median([4, 1, 3, 2])` returns 3; the median of an even count is the mean of the middle two.",
        "patch": diff_of({"textkit/stats.py": replaced("textkit/stats.py", MEDIAN_OLD, MEDIAN_NEW)}),
        "test_patch": diff_of({"tests/test_stats.py": STATS_TESTS}),
        "FAIL_TO_PASS": nodeids("tests/test_stats.py", ["test_median_even"]),
        "PASS_TO_PASS": nodeids("tests/test_stats.py", ["test_mean", "test_median_odd", "test_median_empty",
                                "test_word_counts"]),
    },
]
for t in TASKS:
    t.update({"repo": sample.SAMPLE_REPO_NAME, "base_commit": BASE, "created_at": "2026-01-01T00:00:00Z",
              "source": "sample", "license": "Apache-2.0", "version": "0.3",
              "provenance": {"origin": "tracemill bundled sample", "generator": "scripts/build_sample.py"}})
    t = {k: t[k] for k in sorted(t)}
TASK_BY_ID = {t["instance_id"]: t for t in TASKS}


# ---- rollouts ----------------------------------------------------------------------------------
class Rollout:
    def __init__(self, traj_id: str, instance_id: str, versions=("step-100",)):
        self.traj_id, self.instance_id = traj_id, instance_id
        self.versions = list(versions)
        self.messages = [
            {"role": "system", "content": SYSTEM_PROMPT},
            {"role": "user", "content": f"Fix this issue in {sample.SAMPLE_REPO_NAME}:\n\n"
                                        + TASK_BY_ID.get(instance_id, {}).get("problem_statement", "(unknown task)")},
        ]
        self.calls = 0

    def step(self, thought: str, tool: str, args: dict, observation: str) -> Rollout:
        self.calls += 1
        call_id = f"call_{self.traj_id}_{self.calls}"
        version = self.versions[min(self.calls - 1, len(self.versions) - 1)]
        self.messages.append({"role": "assistant", "content": thought, "policy_version": version,
                              "tool_calls": [{"id": call_id, "type": "function",
                                              "function": {"name": tool, "arguments": json.dumps(args, sort_keys=True)}}]})
        self.messages.append({"role": "tool", "tool_call_id": call_id, "name": tool, "content": observation})
        return self

    def done(self, patch: str | None, exit_status: str = "submitted") -> dict:
        used = [m["policy_version"] for m in self.messages if m.get("policy_version")]
        return {"traj_id": self.traj_id, "instance_id": self.instance_id, "agent": "tracemill-bash-agent",
                "model": MODEL, "messages": self.messages, "tools": TOOLS, "patch": patch, "exit_status": exit_status,
                "policy_version_begin": used[0] if used else None, "policy_version_end": used[-1] if used else None,
                "source_format": "openai-chat", "metadata": {"recorded_by": "scripts/build_sample.py"}}


def explore(r: Rollout, path: str, wording: str = "Let me look at the code first.") -> Rollout:
    return r.step(wording, "bash", {"command": f"cat {path}"}, read(path))


def edit_step(r: Rollout, path: str, old: str, new: str) -> Rollout:
    return r.step("I will fix it.", "edit", {"path": path, "old": old, "new": new}, f"Edited {path}.")


def test_step(r: Rollout, path: str, output: str) -> Rollout:
    return r.step("Run the tests.", "bash", {"command": f"python -m pytest {path} -q"}, output)


def submit(r: Rollout, patch: str | None) -> dict:
    r.step("The issue is fixed; submitting.", "submit", {}, "Submitted.")
    return r.done(patch)


rollouts: list = []
roman_fixed = replaced("textkit/roman.py", ROMAN_FIX_OLD, ROMAN_FIX_NEW)

# textkit-1: resolved, exact duplicate, near duplicate, wrong, test-only edit
r = explore(Rollout("r-001", "textkit-1"), "textkit/roman.py")
edit_step(r, "textkit/roman.py", ROMAN_FIX_OLD, ROMAN_FIX_NEW)
test_step(r, "tests/test_roman.py", "12 passed in 0.02s")
good_roman = submit(r, TASK_BY_ID["textkit-1"]["patch"])
rollouts.append(good_roman)
dup = json.loads(json.dumps(good_roman))
dup["traj_id"] = "r-002"
rollouts.append(dup)
r = explore(Rollout("r-003", "textkit-1"), "textkit/roman.py", "First I'll read the roman module.")
edit_step(r, "textkit/roman.py", ROMAN_FIX_OLD, ROMAN_FIX_NEW)
test_step(r, "tests/test_roman.py", "12 passed in 0.03s")
rollouts.append(submit(r, TASK_BY_ID["textkit-1"]["patch"]))
wrong = ROMAN_FIX_OLD.replace("total += _VALUES[ch]", "total += _VALUES[ch] if ch != 'I' else -1")
r = explore(Rollout("r-004", "textkit-1"), "textkit/roman.py")
edit_step(r, "textkit/roman.py", ROMAN_FIX_OLD, wrong)
rollouts.append(submit(r, diff_of({"textkit/roman.py": replaced("textkit/roman.py", ROMAN_FIX_OLD, wrong)})))
cheat_tests = read("tests/test_roman.py").replace('assert from_roman("XVIII") == 18', 'assert True')
cheat_tests += "\n\ndef test_from_roman_subtractive():\n    assert True\n"
r = explore(Rollout("r-005", "textkit-1"), "tests/test_roman.py")
edit_step(r, "tests/test_roman.py", 'assert from_roman("XVIII") == 18', "assert True")
rollouts.append(submit(r, diff_of({"tests/test_roman.py": cheat_tests})))

# textkit-2: resolved (policy updated mid-rollout), partial, does not apply, hangs
r = explore(Rollout("r-006", "textkit-2", versions=("step-100", "step-100", "step-101", "step-101")),
            "textkit/durations.py")
edit_step(r, "textkit/durations.py", '"m": 60}', '"m": 60, "s": 1}')
test_step(r, "tests/test_durations.py", "6 passed in 0.02s")
rollouts.append(submit(r, TASK_BY_ID["textkit-2"]["patch"]))
partial_old = '    text = text.strip().lower()\n'
partial_new = partial_old + '    if text.endswith("s") and text[:-1].isdigit():\n        return int(text[:-1])\n'
r = explore(Rollout("r-007", "textkit-2"), "textkit/durations.py")
edit_step(r, "textkit/durations.py", partial_old, partial_new)
rollouts.append(submit(r, diff_of({"textkit/durations.py": replaced("textkit/durations.py", partial_old, partial_new)})))
stale = TASK_BY_ID["textkit-2"]["patch"].replace('"m": 60}', '"min": 60}')
r = Rollout("r-008", "textkit-2")
r.step("Where are the units defined?", "bash", {"command": "grep -n _UNITS textkit/durations.py"},
       "5:_UNITS = {\"d\": 86400, \"h\": 3600, \"m\": 60}\n31:    for unit, size in _UNITS.items():")
r.step("I wrote the patch by hand from memory of an older version.", "bash", {"command": "git status --short"}, "")
rollouts.append(submit(r, stale))
hang_old = "    for match in _PART.finditer(text):\n"
hang_new = "    while 's' in text:\n        pass\n" + hang_old
r = explore(Rollout("r-009", "textkit-2"), "textkit/durations.py")
edit_step(r, "textkit/durations.py", hang_old, hang_new)
rollouts.append(submit(r, diff_of({"textkit/durations.py": replaced("textkit/durations.py", hang_old, hang_new)})))

# textkit-3: resolved, deletes the tests, fakes "PASSED" with a conftest hook and prints
r = explore(Rollout("r-010", "textkit-3"), "textkit/slug.py")
edit_step(r, "textkit/slug.py", 'r"[^a-zA-Z0-9]"', 'r"[^a-zA-Z0-9]+"')
rollouts.append(submit(r, TASK_BY_ID["textkit-3"]["patch"]))
r = explore(Rollout("r-011", "textkit-3"), "tests/test_slug.py")
r.step("These tests are in the way.", "bash", {"command": "rm tests/test_slug.py"}, "")
rollouts.append(submit(r, diff_of({"tests/test_slug.py": None})))
fake_conftest = '''import pytest


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    report.outcome = "passed"
    print(f"{item.nodeid} PASSED")
'''
fake_slug = read("textkit/slug.py") + '\nprint("tests/test_slug.py::test_collapses_runs PASSED")\n'
r = explore(Rollout("r-012", "textkit-3"), "textkit/slug.py")
r.step("Make the test report green.", "create", {"path": "conftest.py", "content": fake_conftest}, "Created conftest.py.")
rollouts.append(submit(r, diff_of({"conftest.py": fake_conftest, "textkit/slug.py": fake_slug})))

# textkit-4: resolved, wrong, no patch
r = explore(Rollout("r-013", "textkit-4"), "textkit/stats.py")
edit_step(r, "textkit/stats.py", MEDIAN_OLD, MEDIAN_NEW)
test_step(r, "tests/test_stats.py", "5 passed in 0.01s")
rollouts.append(submit(r, TASK_BY_ID["textkit-4"]["patch"]))
wrong_median = "    return ordered[(len(ordered) - 1) // 2]\n"
r = explore(Rollout("r-014", "textkit-4"), "textkit/stats.py")
edit_step(r, "textkit/stats.py", MEDIAN_OLD, wrong_median)
rollouts.append(submit(r, diff_of({"textkit/stats.py": replaced("textkit/stats.py", MEDIAN_OLD, wrong_median)})))
r = explore(Rollout("r-015", "textkit-4"), "textkit/stats.py")
rollouts.append(r.done(None, exit_status="exit_turn_limit"))

# unknown task, schema failure, malformed JSON
r = explore(Rollout("r-016", "textkit-99"), "textkit/wrap.py")
rollouts.append(submit(r, TASK_BY_ID["textkit-4"]["patch"]))
broken = json.loads(json.dumps(good_roman))
broken["traj_id"] = "r-017"
del broken["messages"]
rollouts.append(broken)
lines = [json.dumps(x, sort_keys=True) for x in rollouts]
lines.insert(8, '{"traj_id": "r-018", "instance_id": "textkit-1", "messages": [')  # truncated write

bad_task = dict(TASK_BY_ID["textkit-4"], instance_id="textkit-5", base_commit="HEAD")
task_lines = [json.dumps(t, sort_keys=True) for t in TASKS] + [json.dumps(bad_task, sort_keys=True)]
(OUT / "tasks.jsonl").write_text("\n".join(task_lines) + "\n")
(OUT / "rollouts.jsonl").write_text("\n".join(lines) + "\n")
print(f"wrote {len(task_lines)} tasks and {len(lines)} rollout lines (base {BASE})")
