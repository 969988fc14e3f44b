"""AST bug operators: the candidate source of mutate-fix tasks.

Each operator finds sites in a function body and describes one edit as a text span of the original
file plus its replacement, so everything outside the span keeps its exact formatting (comments,
quotes, spacing). Which sites become mutants is a pure function of (seed, site id).

Operators: flip_comparison, off_by_one, negate_condition, swap_operands, swap_arguments,
remove_statement, remove_branch, change_constant, wrong_return, remove_loop, shuffle_lines,
broken_chained_call, swap_bool_op, swap_arith_op.
"""

from __future__ import annotations

import ast
import difflib
import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from tracemill.records import stable_hash, unit_interval

_FLIP_CMP = {ast.Lt: ">=", ast.LtE: ">", ast.Gt: "<=", ast.GtE: "<", ast.Eq: "!=", ast.NotEq: "==",
             ast.In: "not in", ast.NotIn: "in", ast.Is: "is not", ast.IsNot: "is"}
_CMP_TEXT = {ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==", ast.NotEq: "!=",
             ast.In: "in", ast.NotIn: "not in", ast.Is: "is", ast.IsNot: "is not"}
_NONCOMMUTATIVE = (ast.Sub, ast.Div, ast.FloorDiv, ast.Mod, ast.Pow, ast.LShift, ast.RShift, ast.MatMult)
_ARITH_SWAP = {ast.Add: "-", ast.Sub: "+", ast.Mult: "//", ast.FloorDiv: "*", ast.Div: "*", ast.Mod: "//"}
_ARITH_TEXT = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.FloorDiv: "//", ast.Div: "/", ast.Mod: "%"}


@dataclass(frozen=True)
class Edit:
    """Replace [start, end) character offsets of the file with `text`."""

    start: int
    end: int
    text: str


@dataclass(frozen=True)
class Mutant:
    path: str  # tree-relative, posix
    operator: str
    function: str  # qualified name of the enclosing function
    lines: tuple[int, int]  # first and last original line of the changed span (1-based)
    edits: tuple[Edit, ...]
    original: str
    mutated: str

    @property
    def mutant_id(self) -> str:
        return stable_hash(self.path, self.operator, [(e.start, e.end, e.text) for e in self.edits])[:16]

    @property
    def changed_lines(self) -> list[int]:
        return list(range(self.lines[0], self.lines[1] + 1))


class _Source:
    """Maps AST (line, utf-8 byte column) positions to character offsets in the text."""

    def __init__(self, text: str):
        self.text = text
        self.lines = text.splitlines(keepends=True)
        self.starts = [0]
        for line in self.lines:
            self.starts.append(self.starts[-1] + len(line))

    def offset(self, lineno: int, col: int) -> int:
        line = self.lines[lineno - 1]
        return self.starts[lineno - 1] + len(line.encode("utf-8")[:col].decode("utf-8", errors="replace"))

    def span(self, node: ast.AST) -> tuple[int, int]:
        return self.offset(node.lineno, node.col_offset), self.offset(node.end_lineno, node.end_col_offset)

    def seg(self, node: ast.AST) -> str:
        a, b = self.span(node)
        return self.text[a:b]

    def line_span(self, first: int, last: int) -> tuple[int, int]:
        """Whole lines first..last without the final newline, starting after the indentation."""
        line = self.lines[first - 1]
        start = self.starts[first - 1] + (len(line) - len(line.lstrip()))
        end_line = self.lines[last - 1]
        return start, self.starts[last - 1] + len(end_line.rstrip("\r\n"))


Site = tuple[ast.AST, list[Edit]]


def _functions(tree: ast.AST) -> Iterator[tuple[str, ast.AST]]:
    def walk(node: ast.AST, prefix: str) -> Iterator[tuple[str, ast.AST]]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                name = f"{prefix}{child.name}"
                yield name, child
                yield from walk(child, name + ".")
            elif isinstance(child, ast.ClassDef):
                yield from walk(child, f"{prefix}{child.name}.")
            else:
                yield from walk(child, prefix)

    yield from walk(tree, "")


def _own_nodes(func: ast.AST) -> Iterator[ast.AST]:
    """Nodes of `func`'s body, excluding nested functions/classes (they are visited on their own)."""
    stack = list(reversed(func.body))
    while stack:
        node = stack.pop()
        yield node
        for child in reversed(list(ast.iter_child_nodes(node))):
            if not isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
                stack.append(child)


def _op_gap(src: _Source, left: ast.AST, right: ast.AST) -> tuple[int, int]:
    """Offsets of the operator text between two operands (strips spaces, keeps parentheses out)."""
    a = src.offset(left.end_lineno, left.end_col_offset)
    b = src.offset(right.lineno, right.col_offset)
    gap = src.text[a:b]
    lead = len(gap) - len(gap.lstrip(" )\t\n\\"))
    trail = len(gap) - len(gap.rstrip(" (\t\n\\"))
    return a + lead, b - trail


def op_flip_comparison(src: _Source, node: ast.AST) -> list[Edit] | None:
    if isinstance(node, ast.Compare) and len(node.ops) == 1 and type(node.ops[0]) in _FLIP_CMP:
        a, b = _op_gap(src, node.left, node.comparators[0])
        if " ".join(src.text[a:b].split()) == _CMP_TEXT[type(node.ops[0])]:
            return [Edit(a, b, _FLIP_CMP[type(node.ops[0])])]
    return None


def _is_int(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and type(node.value) is int


def op_off_by_one(src: _Source, node: ast.AST) -> list[Edit] | None:
    """An integer bound of range() or an index/slice bound, shifted by one."""
    targets: list[ast.AST] = []
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "range":
        targets = [a for a in node.args if _is_int(a)]
        if not targets and node.args:
            # range(n) -> range(n - 1): wrap the last bound
            last = node.args[min(1, len(node.args) - 1)]
            a, b = src.span(last)
            return [Edit(a, b, f"{src.seg(last)} - 1")]
    elif isinstance(node, ast.Subscript):
        sl = node.slice
        if _is_int(sl):
            targets = [sl]
        elif isinstance(sl, ast.Slice):
            targets = [x for x in (sl.lower, sl.upper) if x is not None and _is_int(x)]
            if not targets:
                bound = sl.upper or sl.lower
                if bound is not None and not isinstance(bound, ast.Slice):
                    a, b = src.span(bound)
                    return [Edit(a, b, f"{src.seg(bound)} + 1")]
    if targets:
        t = targets[0]
        a, b = src.span(t)
        return [Edit(a, b, str(t.value + 1 if t.value >= 0 else t.value - 1))]
    return None


def op_negate_condition(src: _Source, node: ast.AST) -> list[Edit] | None:
    if isinstance(node, (ast.If, ast.While, ast.IfExp, ast.Assert)):
        test = node.test
        a, b = src.span(test)
        if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
            return [Edit(a, b, src.seg(test.operand))]
        return [Edit(a, b, f"not ({src.seg(test)})")]
    return None


def op_swap_operands(src: _Source, node: ast.AST) -> list[Edit] | None:
    if isinstance(node, ast.BinOp) and isinstance(node.op, _NONCOMMUTATIVE):
        left, right = node.left, node.right
    elif isinstance(node, ast.Compare) and len(node.ops) == 1 and isinstance(
            node.ops[0], (ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.In, ast.NotIn)):
        left, right = node.left, node.comparators[0]
    else:
        return None
    if src.seg(left) == src.seg(right):
        return None
    la, lb = src.span(left)
    ra, rb = src.span(right)
    return [Edit(la, lb, src.seg(right)), Edit(ra, rb, src.seg(left))]


def op_swap_arguments(src: _Source, node: ast.AST) -> list[Edit] | None:
    if isinstance(node, ast.Call) and len(node.args) >= 2:
        x, y = node.args[0], node.args[1]
        if isinstance(x, ast.Starred) or isinstance(y, ast.Starred) or src.seg(x) == src.seg(y):
            return None
        xa, xb = src.span(x)
        ya, yb = src.span(y)
        return [Edit(xa, xb, src.seg(y)), Edit(ya, yb, src.seg(x))]
    return None


def _replace_stmt(src: _Source, stmt: ast.stmt, text: str) -> list[Edit]:
    a, b = src.line_span(stmt.lineno, stmt.end_lineno)
    start = src.offset(stmt.lineno, stmt.col_offset)
    return [Edit(start, b, text)] if start >= a else [Edit(a, b, text)]


_SIMPLE = (ast.Expr, ast.Assign, ast.AugAssign, ast.AnnAssign)


def op_remove_statement(src: _Source, node: ast.AST) -> list[Edit] | None:
    if isinstance(node, _SIMPLE) and not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)):
        return _replace_stmt(src, node, "pass")
    return None


def op_remove_branch(src: _Source, node: ast.AST) -> list[Edit] | None:
    """Drop an if statement without else (its guarded action never happens)."""
    if isinstance(node, ast.If) and not node.orelse:
        return _replace_stmt(src, node, "pass")
    return None


def op_change_constant(src: _Source, node: ast.AST) -> list[Edit] | None:
    if not isinstance(node, ast.Constant):
        return None
    a, b = src.span(node)
    v = node.value
    if isinstance(v, bool):
        return [Edit(a, b, str(not v))]
    if type(v) is int:
        return [Edit(a, b, "1" if v == 0 else "0" if v == 1 else str(v * 2))]
    if type(v) is float:
        return [Edit(a, b, repr(v + 1.0))]
    if isinstance(v, str) and v and len(src.seg(node)) < 80 and "\n" not in src.seg(node):
        return [Edit(a, b, repr(v[1:] if len(v) > 1 else v + v))]
    return None


def op_wrong_return(src: _Source, node: ast.AST) -> list[Edit] | None:
    if isinstance(node, ast.Return) and node.value is not None:
        v = node.value
        if isinstance(v, ast.Constant) and v.value is None:
            return None
        a, b = src.span(v)
        if isinstance(v, ast.Constant) and isinstance(v.value, bool):
            return [Edit(a, b, str(not v.value))]
        return [Edit(a, b, "None")]
    return None


def op_remove_loop(src: _Source, node: ast.AST) -> list[Edit] | None:
    if isinstance(node, (ast.For, ast.While)) and not node.orelse:
        return _replace_stmt(src, node, "pass")
    return None


def _single_line_simple(stmt: ast.stmt) -> bool:
    return isinstance(stmt, (*_SIMPLE, ast.Return)) and stmt.lineno == stmt.end_lineno


def op_shuffle_lines(src: _Source, node: ast.AST) -> list[Edit] | None:
    """Swap two adjacent one-line statements of a block (the second is not a return)."""
    for field_name in ("body", "orelse", "finalbody"):
        block = getattr(node, field_name, None)
        if not isinstance(block, list):
            continue
        for first, second in itertools.pairwise(block):
            if (_single_line_simple(first) and _single_line_simple(second) and not isinstance(second, ast.Return)
                    and not isinstance(first, ast.Return) and first.col_offset == second.col_offset
                    and second.lineno == first.lineno + 1 and src.seg(first) != src.seg(second)):
                fa, fb = src.span(first)
                sa, sb = src.span(second)
                return [Edit(fa, fb, src.seg(second)), Edit(sa, sb, src.seg(first))]
    return None


def op_broken_chained_call(src: _Source, node: ast.AST) -> list[Edit] | None:
    """`a.f().g()` -> `a.f()`: the last link of a method chain is dropped."""
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            and isinstance(node.func.value, ast.Call)):
        a, b = src.span(node)
        return [Edit(a, b, src.seg(node.func.value))]
    return None


def op_swap_bool_op(src: _Source, node: ast.AST) -> list[Edit] | None:
    if isinstance(node, ast.BoolOp) and len(node.values) == 2:
        a, b = _op_gap(src, node.values[0], node.values[1])
        word = src.text[a:b].strip()
        if word in ("and", "or"):
            return [Edit(a, b, "or" if word == "and" else "and")]
    return None


def op_swap_arith_op(src: _Source, node: ast.AST) -> list[Edit] | None:
    if isinstance(node, ast.BinOp) and type(node.op) in _ARITH_SWAP:
        a, b = _op_gap(src, node.left, node.right)
        if src.text[a:b].strip() == _ARITH_TEXT[type(node.op)]:
            return [Edit(a, b, _ARITH_SWAP[type(node.op)])]
    return None


OPERATORS: dict[str, Callable[[_Source, ast.AST], list[Edit] | None]] = {
    "flip_comparison": op_flip_comparison,
    "off_by_one": op_off_by_one,
    "negate_condition": op_negate_condition,
    "swap_operands": op_swap_operands,
    "swap_arguments": op_swap_arguments,
    "remove_statement": op_remove_statement,
    "remove_branch": op_remove_branch,
    "change_constant": op_change_constant,
    "wrong_return": op_wrong_return,
    "remove_loop": op_remove_loop,
    "shuffle_lines": op_shuffle_lines,
    "broken_chained_call": op_broken_chained_call,
    "swap_bool_op": op_swap_bool_op,
    "swap_arith_op": op_swap_arith_op,
}


def apply_edits(text: str, edits: tuple[Edit, ...] | list[Edit]) -> str:
    out, pos = [], 0
    for e in sorted(edits, key=lambda e: e.start):
        if e.start < pos:
            raise ValueError("overlapping edits")
        out += [text[pos:e.start], e.text]
        pos = e.end
    out.append(text[pos:])
    return "".join(out)


def _line_of(src: _Source, offset: int) -> int:
    lo, hi = 0, len(src.starts) - 1
    while lo < hi - 1:
        mid = (lo + hi) // 2
        if src.starts[mid] <= offset:
            lo = mid
        else:
            hi = mid
    return lo + 1


def _docstring_nodes(tree: ast.AST) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Module)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(
                    first.value.value, str):
                ids.add(id(first.value))
    return ids


def enumerate_mutants(path: str, text: str, *, covered_lines: set[int] | None = None,
                      operators: tuple[str, ...] | None = None) -> list[Mutant]:
    """Every candidate mutant of one file (each site x operator), restricted to covered lines if given."""
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return []
    src = _Source(text)
    skip = _docstring_nodes(tree)
    out: list[Mutant] = []
    seen: set[str] = set()
    for qualname, func in _functions(tree):
        for node in _own_nodes(func):
            if id(node) in skip or not hasattr(node, "lineno"):
                continue
            for op_name, op in OPERATORS.items():
                if operators and op_name not in operators:
                    continue
                edits = op(src, node)
                if not edits:
                    continue
                first = _line_of(src, min(e.start for e in edits))
                last = _line_of(src, max(e.end for e in edits) - 1 if max(e.end for e in edits) > 0 else 0)
                if covered_lines is not None and not any(n in covered_lines for n in range(first, last + 1)):
                    continue
                try:
                    mutated = apply_edits(text, edits)
                except ValueError:
                    continue
                if mutated == text or mutated in seen:
                    continue
                seen.add(mutated)
                out.append(Mutant(path, op_name, qualname, (first, last), tuple(edits), text, mutated))
    return out


def is_valid(m: Mutant) -> bool:
    """Compiles, and is a different program (not a formatting-only change)."""
    try:
        compile(m.mutated, m.path, "exec")
        return ast.dump(ast.parse(m.mutated)) != ast.dump(ast.parse(m.original))
    except (SyntaxError, ValueError):
        return False


def sample_mutants(mutants: list[Mutant], seed: int, limit: int | None) -> list[Mutant]:
    """A seeded choice that spreads over operators: rank by (seed, id) draw within each operator, then
    interleave operators round-robin, so the choice never depends on file or walk order."""
    by_op: dict[str, list[Mutant]] = {}
    for m in mutants:
        by_op.setdefault(m.operator, []).append(m)
    for group in by_op.values():
        group.sort(key=lambda m: (unit_interval(seed, m.mutant_id), m.mutant_id))
    ops = sorted(by_op, key=lambda o: unit_interval(seed, "op:" + o))
    out: list[Mutant] = []
    i = 0
    while any(by_op.values()) and (limit is None or len(out) < limit):
        op = ops[i % len(ops)]
        if by_op[op]:
            m = by_op[op].pop(0)
            # Checked here, not when enumerating: compiling every candidate of a big repo is wasted work.
            if is_valid(m):
                out.append(m)
        i += 1
    return out


def unified_diff(path: str, before: str, after: str) -> str:
    """A git-style diff of one file that `git apply` accepts (no-newline-at-EOF handled)."""
    a_lines = before.splitlines(keepends=True)
    b_lines = after.splitlines(keepends=True)
    body = []
    for line in difflib.unified_diff(a_lines, b_lines, f"a/{path}", f"b/{path}", n=3):
        if not line.endswith("\n"):
            line += "\n\\ No newline at end of file\n"
        body.append(line)
    if not body:
        return ""
    return f"diff --git a/{path} b/{path}\n" + "".join(body)
