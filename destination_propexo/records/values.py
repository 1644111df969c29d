"""How a bad value is quoted in a rejection reason: its repr, cut short."""

from __future__ import annotations

SHOWN_VALUE_LENGTH = 60


def shown(value: object) -> str:
    """A value as it may appear in a reason: repr, truncated, with its length when cut."""
    try:
        text = repr(value)
    except ValueError:  # an int past Python's 4300-digit str limit, maybe inside a list
        return "a number too large to show"
    if len(text) > SHOWN_VALUE_LENGTH:
        return f"{text[: SHOWN_VALUE_LENGTH - 3]}... ({len(text)} characters)"
    return text
