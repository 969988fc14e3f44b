"""Bounded, deterministic `repr` of traced values (runs inside the sandbox; stdlib only).

Every local and return value of a trace goes through `bounded_repr`. It must never hang or blow
up on what untrusted code hands it, and the same value must always print the same way:

- length, depth and item limits, truncation marked with `<...>` so it cannot look like data;
- set and frozenset items sorted by their own repr (hash order varies between processes); dicts
  keep insertion order, which Python defines;
- no memory addresses (`<Foo object>` instead of `<Foo object at 0x7f...>`);
- huge ints are summarised by bit length instead of tripping `int_max_str_digits`;
- a `__repr__` that raises is reported, not propagated.
"""

from __future__ import annotations

import re
import types

MAX_LEN = 200
MAX_DEPTH = 4
MAX_ITEMS = 20
MAX_INT_BITS = 1024

_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")
_OPEN_CLOSE = {list: ("[", "]"), tuple: ("(", ")"), set: ("{", "}"), frozenset: ("frozenset({", "})")}


def _cut(text: str, max_len: int) -> str:
    if len(text) <= max_len:
        return text
    return f"{text[:max_len]}<...{len(text) - max_len} more chars>"


def _type_name(obj: object) -> str:
    return type(obj).__qualname__


def _int_repr(value: int) -> str:
    bits = value.bit_length()
    if bits > MAX_INT_BITS:
        sign = "-" if value < 0 else ""
        return f"<int {sign}{bits} bits>"
    return repr(value)


def _str_repr(value: str | bytes, max_len: int) -> str:
    if len(value) <= max_len:
        return repr(value)
    # Cut before repr: repr of a 100 MB string is itself 100 MB.
    return f"{value[:max_len]!r}<...{len(value) - max_len} more>"


def _object_repr(value: object, max_len: int) -> str:
    cls = type(value)
    if isinstance(value, (types.FunctionType, types.BuiltinFunctionType, types.MethodType)):
        return f"<{cls.__name__} {getattr(value, '__qualname__', '?')}>"
    if isinstance(value, types.GeneratorType):
        return f"<generator {value.__qualname__}>"
    if isinstance(value, types.ModuleType):
        return f"<module {value.__name__!r}>"
    if isinstance(value, type):
        return f"<class {value.__qualname__!r}>"
    if cls.__repr__ is object.__repr__:
        return f"<{cls.__qualname__} object>"
    try:
        text = cls.__repr__(value)
    except Exception as exc:  # noqa: BLE001 - untrusted __repr__
        return f"<{cls.__qualname__} object (repr raised {type(exc).__name__})>"
    if not isinstance(text, str):
        return f"<{cls.__qualname__} object (repr returned {type(text).__name__})>"
    return _cut(_ADDRESS.sub("", text), max_len)


_INT_BOUND = 1 << MAX_INT_BITS


def _small(v: object, max_len: int) -> bool:
    t = type(v)
    if t is int:
        return -_INT_BOUND < v < _INT_BOUND
    if t is str:
        return len(v) <= max_len
    return t is float or t is bool or v is None


def _walk(value: object, depth: int, max_len: int, max_items: int, active: set[int]) -> str:
    cls = type(value)
    if value is None or cls is bool or cls is float or cls is complex:
        return repr(value)
    if cls is int:
        return _int_repr(value)
    if cls is str or cls is bytes or cls is bytearray:
        return _str_repr(value, max_len)
    container = cls in _OPEN_CLOSE or cls is dict
    if not container:
        return _object_repr(value, max_len)
    if id(value) in active:  # a cycle: what Python prints for itself
        return "{...}" if cls is dict else "[...]" if cls is list else "(...)"
    if depth < MAX_DEPTH and len(value) <= max_items and cls is not set and cls is not frozenset:
        # Fast path, same output: a flat container of small scalars prints exactly as the builtin
        # repr does (the per-item walk below is the tracer's hottest code otherwise).
        elems = (*value.keys(), *value.values()) if cls is dict else value
        if all(_small(v, max_len) for v in elems):
            return _cut(repr(value), max_len)
    elif depth < MAX_DEPTH and (cls is list or cls is tuple) and max_items >= 2:
        head = value[:max_items]
        if all(_small(v, max_len) for v in head):
            opener, closer = _OPEN_CLOSE[cls]
            return _cut(f"{opener}{repr(head)[1:-1]}, <...{len(value) - max_items} more>{closer}", max_len)
    opener, closer = ("{", "}") if cls is dict else _OPEN_CLOSE[cls]
    if not value:
        return {set: "set()", frozenset: "frozenset()"}.get(cls, opener + closer)
    if depth >= MAX_DEPTH:
        return f"{opener}<...{len(value)} items>{closer}"
    active.add(id(value))
    try:
        parts: list[str] = []
        if cls is dict:
            items = list(value.items())[:max_items]
            for k, v in items:
                parts.append(f"{_walk(k, depth + 1, max_len, max_items, active)}: "
                             f"{_walk(v, depth + 1, max_len, max_items, active)}")
        else:
            elems = [_walk(v, depth + 1, max_len, max_items, active) for v in _first(value, max_items, cls)]
            parts = sorted(elems) if cls in (set, frozenset) else elems
        if len(value) > max_items:
            parts.append(f"<...{len(value) - max_items} more>")
        body = ", ".join(parts)
        if cls is tuple and len(value) == 1:
            body += ","
    finally:
        active.discard(id(value))
    return _cut(opener + body + closer, max_len)


def _first(value, n: int, cls: type) -> list:
    if cls in (set, frozenset):
        # Sort by repr first so that *which* items survive the cut is deterministic too.
        return sorted(value, key=lambda v: _walk(v, MAX_DEPTH, MAX_LEN, 0, set()))[:n] if len(value) > n \
            else list(value)
    return list(value[:n])


def bounded_repr(value: object, max_len: int = MAX_LEN, max_items: int = MAX_ITEMS) -> str:
    """Deterministic repr of `value`, at most about `max_len` characters, truncation marked."""
    try:
        return _walk(value, 0, max_len, max_items, set())
    except RecursionError:
        return f"<{_type_name(value)} object (too deep)>"
    except Exception as exc:  # noqa: BLE001 - e.g. a dict subclass whose items() raises
        return f"<{_type_name(value)} object (repr raised {type(exc).__name__})>"


def exception_repr(exc: BaseException, max_len: int = MAX_LEN) -> str:
    """`ValueError('bad input')`-style repr of a raised exception, bounded like any value."""
    return _object_repr(exc, max_len) if type(exc).__repr__ is not object.__repr__ else type(exc).__name__
