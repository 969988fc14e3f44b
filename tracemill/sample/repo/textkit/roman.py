"""Roman numerals."""

_NUMERALS = [
    (1000, "M"), (900, "CM"), (500, "D"), (400, "CD"),
    (100, "C"), (90, "XC"), (50, "L"), (40, "XL"),
    (10, "X"), (9, "IX"), (5, "V"), (4, "IV"), (1, "I"),
]
_VALUES = {"I": 1, "V": 5, "X": 10, "L": 50, "C": 100, "D": 500, "M": 1000}


def to_roman(number: int) -> str:
    """Write a positive integer below 4000 in roman numerals."""
    if not 0 < number < 4000:
        raise ValueError(f"out of range: {number}")
    out = []
    for value, symbol in _NUMERALS:
        while number >= value:
            out.append(symbol)
            number -= value
    return "".join(out)


def from_roman(text: str) -> int:
    """Read a roman numeral."""
    if not text or any(ch not in _VALUES for ch in text.upper()):
        raise ValueError(f"not a roman numeral: {text!r}")
    total = 0
    for ch in text.upper():
        total += _VALUES[ch]
    return total
