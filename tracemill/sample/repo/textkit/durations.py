"""Human-readable durations such as "1h30m" or "2d 4h"."""

import re

_UNITS = {"d": 86400, "h": 3600, "m": 60}
_PART = re.compile(r"(\d+)\s*([a-z]+)")


def parse_duration(text: str) -> int:
    """Number of seconds in a duration string."""
    text = text.strip().lower()
    if not text:
        raise ValueError("empty duration")
    total = 0
    pos = 0
    for match in _PART.finditer(text):
        if text[pos:match.start()].strip():
            raise ValueError(f"unexpected text in duration: {text!r}")
        amount, unit = match.groups()
        if unit not in _UNITS:
            raise ValueError(f"unknown unit {unit!r}")
        total += int(amount) * _UNITS[unit]
        pos = match.end()
    if text[pos:].strip():
        raise ValueError(f"unexpected text in duration: {text!r}")
    return total


def format_duration(seconds: int) -> str:
    """The inverse of parse_duration for whole minutes."""
    parts = []
    for unit, size in _UNITS.items():
        amount, seconds = divmod(seconds, size)
        if amount:
            parts.append(f"{amount}{unit}")
    return "".join(parts) or "0m"
