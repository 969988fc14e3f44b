"""Greedy line wrapping."""


def wrap(text: str, width: int) -> list:
    """Split text into lines of at most `width` characters, breaking between words."""
    if width < 1:
        raise ValueError("width must be positive")
    lines, current = [], ""
    for word in text.split():
        candidate = f"{current} {word}" if current else word
        if len(candidate) <= width or not current:
            current = candidate
        else:
            lines.append(current)
            current = word
    if current:
        lines.append(current)
    return lines
