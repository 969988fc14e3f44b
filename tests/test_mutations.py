"""AST bug operators: each kind fires, formatting survives outside the span, choice is seeded."""

import subprocess

import pytest

from tracemill.sources.mutations import (
    OPERATORS,
    apply_edits,
    enumerate_mutants,
    is_valid,
    sample_mutants,
    unified_diff,
)

SOURCE = '''"""Module docstring stays."""
import re


def scan(items, limit):  # a comment that must survive
    """Docstring is never mutated."""
    out = []
    for i in range(len(items)):
        if items[i] > limit and i % 2 == 0:
            out.append(items[i] - limit)
        total = len(out)
        count = total * 2
    while limit > 10:
        limit -= 1
    if not out:
        return None
    return re.sub("a", "b", " X ".strip().lower()), out[0], pow(limit, 2)


def ok(flag):
    assert flag is not None
    return True
'''


def by_operator():
    found = {}
    for m in enumerate_mutants("pkg/mod.py", SOURCE):
        found.setdefault(m.operator, []).append(m)
    return found


def test_every_operator_kind_fires_on_the_sample():
    found = by_operator()
    assert set(OPERATORS) <= set(found), set(OPERATORS) - set(found)
    assert len(OPERATORS) >= 10


@pytest.mark.parametrize("operator,before,after", [
    ("flip_comparison", "items[i] > limit", "items[i] <= limit"),
    ("off_by_one", "range(len(items))", "range(len(items) - 1)"),
    ("negate_condition", "if not out:", "if out:"),
    ("swap_arguments", "pow(limit, 2)", "pow(2, limit)"),
    ("wrong_return", "return True", "return False"),
    ("broken_chained_call", '" X ".strip().lower()', '" X ".strip()'),
    ("swap_bool_op", "limit and i % 2", "limit or i % 2"),
    ("swap_arith_op", "total * 2", "total // 2"),
])
def test_operator_rewrites_only_its_span(operator, before, after):
    mutants = [m for m in by_operator()[operator] if after in m.mutated and before in m.original]
    assert mutants, f"{operator} did not produce {after!r}"
    m = mutants[0]
    changed = [(a, b) for a, b in zip(m.original.splitlines(), m.mutated.splitlines()) if a != b]
    assert len(m.original.splitlines()) == len(m.mutated.splitlines()) or operator in ("remove_loop",)
    assert all(before in a and after in b for a, b in changed)
    assert "# a comment that must survive" in m.mutated


def test_block_removal_replaces_the_block_with_pass_and_keeps_the_rest():
    m = by_operator()["remove_loop"][0]
    assert "    pass\n" in m.mutated
    assert m.mutated.count("\n") < m.original.count("\n")
    assert m.mutated.startswith('"""Module docstring stays."""\nimport re\n')


def test_docstrings_are_never_mutated():
    for m in enumerate_mutants("pkg/mod.py", SOURCE):
        assert '"""Docstring is never mutated."""' in m.mutated


def test_covered_lines_restrict_the_sites():
    only = enumerate_mutants("pkg/mod.py", SOURCE, covered_lines={21})
    assert only and all(m.lines[0] <= 21 <= m.lines[1] for m in only)


def test_sampling_is_seeded_and_spreads_over_operators():
    mutants = enumerate_mutants("pkg/mod.py", SOURCE)
    a = [m.mutant_id for m in sample_mutants(mutants, seed=1, limit=12)]
    b = [m.mutant_id for m in sample_mutants(list(reversed(mutants)), seed=1, limit=12)]
    c = [m.mutant_id for m in sample_mutants(mutants, seed=2, limit=12)]
    assert a == b and a != c
    assert len({m.operator for m in sample_mutants(mutants, seed=1, limit=12)}) == 12


def test_is_valid_rejects_code_that_does_not_compile():
    m = by_operator()["swap_arith_op"][0]
    broken = type(m)(m.path, m.operator, m.function, m.lines, m.edits, m.original, m.original + "def (:\n")
    assert is_valid(m) and not is_valid(broken)


def test_unicode_columns_are_character_offsets():
    src = 'def f(s):\n    return "é" + s if s > "ü" else s\n'
    m = next(m for m in enumerate_mutants("u.py", src) if m.operator == "flip_comparison")
    assert 's <= "ü"' in m.mutated and '"é" + s' in m.mutated


def test_bug_patch_and_fix_apply_with_git(tmp_path):
    m = next(m for m in enumerate_mutants("pkg/mod.py", SOURCE) if m.operator == "remove_branch")
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg/mod.py").write_text(m.original)
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    bug, fix = unified_diff(m.path, m.original, m.mutated), unified_diff(m.path, m.mutated, m.original)
    subprocess.run(["git", "apply", "-"], cwd=tmp_path, input=bug.encode(), check=True)
    assert (tmp_path / "pkg/mod.py").read_text() == m.mutated
    subprocess.run(["git", "apply", "-"], cwd=tmp_path, input=fix.encode(), check=True)
    assert (tmp_path / "pkg/mod.py").read_text() == m.original


def test_overlapping_edits_are_refused():
    from tracemill.sources.mutations import Edit

    with pytest.raises(ValueError):
        apply_edits("abcdef", [Edit(0, 3, "x"), Edit(2, 4, "y")])
