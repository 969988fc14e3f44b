"""The bounded repr: deterministic, address-free, bounded, never raising."""

from __future__ import annotations

import subprocess
import sys

from tracemill.trace.reprs import bounded_repr, exception_repr


def test_plain_values_print_as_python_does():
    assert bounded_repr([1, "a", None, 2.5, (1,)]) == "[1, 'a', None, 2.5, (1,)]"
    assert bounded_repr({"b": 1, "a": 2}) == "{'b': 1, 'a': 2}"  # insertion order, as Python defines it
    assert bounded_repr(set()) == "set()"
    assert bounded_repr(frozenset({2, 1})) == "frozenset({1, 2})"


def test_sets_are_sorted_so_hash_order_does_not_leak():
    assert bounded_repr({"pear", "apple", "fig"}) == "{'apple', 'fig', 'pear'}"


def test_set_order_is_identical_across_hash_seeds():
    code = "from tracemill.trace.reprs import bounded_repr; print(bounded_repr({'x%d' % i for i in range(30)}))"
    outs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           env={"PYTHONHASHSEED": seed, "PATH": "/usr/bin:/bin"}).stdout for seed in ("1", "2")}
    assert len(outs) == 1


def test_no_memory_addresses():
    class Opaque:
        pass

    def fn():
        return 1

    assert bounded_repr(Opaque()) == "<test_no_memory_addresses.<locals>.Opaque object>"
    assert "0x" not in bounded_repr(fn)
    assert "0x" not in bounded_repr(iter([1]))


def test_a_repr_that_raises_is_reported():
    class Broken:
        def __repr__(self):
            raise RuntimeError("nope")

    assert bounded_repr(Broken()).endswith("object (repr raised RuntimeError)>")


def test_long_string_is_cut_with_a_marker():
    out = bounded_repr("x" * 10_000, max_len=50)
    assert out == repr("x" * 50) + "<...9950 more>"


def test_huge_int_is_summarised_not_printed():
    assert bounded_repr(7**5000) == "<int 14037 bits>"
    assert bounded_repr(-(2**2000)) == "<int -2001 bits>"
    assert bounded_repr(2**64) == str(2**64)


def test_long_list_keeps_first_items_and_marks_the_rest():
    assert bounded_repr(list(range(100)), max_items=3) == "[0, 1, 2, <...97 more>]"


def test_depth_limit_marks_nested_containers():
    assert bounded_repr([[[[[[1]]]]]]) == "[[[[[<...1 items>]]]]]"


def test_cycles_print_like_python():
    a: list = [1]
    a.append(a)
    assert bounded_repr(a) == "[1, [...]]"


def test_exception_repr():
    assert exception_repr(ValueError("bad")) == "ValueError('bad')"
