"""JSON values exactly as they arrive, and how a bad value is quoted in a rejection reason.

Python's JSON readers turn every number into an `int` or a `float`: a float keeps about 17
significant digits, and orjson also reads integers past 64 bits as floats, so
`123456789012345678901234567890` would come back as `1.2345678901234568e+29`. A STATE is
echoed to Airbyte, which matches it against the one it sent, and rejected rows are filed for
the user, so no number may change on its way through. `loads_exact` keeps every decimal
number, `NaN`, `Infinity` and `-Infinity` as a `JsonNumber` holding its text, and integers
as Python ints (exact at any size); `dumps_exact` writes them back as they were written.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

import orjson

SHOWN_VALUE_LENGTH = 60
# What follows the head of a value cut to be shown: `...` and, in brackets, its full length.
CUT_MARK = "... ("
# Python refuses to turn longer digit strings into an int (4300 digits unless configured);
# such a number is kept as its text instead.
_INT_DIGITS = sys.get_int_max_str_digits() or 4300
NON_FINITE = frozenset({"NaN", "Infinity", "-Infinity"})


class JsonNumber:
    """A JSON number kept as the text it was written as: a decimal (`1721484000.123456789`),
    `NaN`, `Infinity`, `-Infinity`, or an integer too long for Python's int parsing.

    `value` is the number it names (a Decimal, which holds every digit, NaN and the
    infinities); `repr` and `str` give the text, so reasons quote it as written."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    @property
    def value(self) -> Decimal:
        return Decimal(self.text)

    @property
    def is_finite(self) -> bool:
        return self.text not in NON_FINITE

    def __repr__(self) -> str:
        return self.text

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, JsonNumber) and other.text == self.text

    def __hash__(self) -> int:
        return hash(self.text)


def _int(text: str) -> int | JsonNumber:
    return int(text) if len(text) <= _INT_DIGITS else JsonNumber(text)


def loads_exact(text: str | bytes) -> Any:
    """Parse JSON keeping every number as written (see the module docstring).

    Raises ValueError (json.JSONDecodeError, UnicodeDecodeError) for text that is not JSON,
    and RecursionError for nesting deeper than Python's stack allows."""
    if isinstance(text, bytes):
        text = text.decode("utf-8")
    return json.loads(text, parse_float=JsonNumber, parse_int=_int, parse_constant=JsonNumber)


def has_float(value: object) -> bool:
    """Whether a value parsed by orjson holds a float anywhere: the only way orjson alters a
    number (a decimal rounded to a double, an integer past 64 bits read as one)."""
    items: Iterable[object]
    if isinstance(value, dict):
        items = value.values()
    elif isinstance(value, list):
        items = value
    else:
        return type(value) is float
    kinds = set(map(type, items))  # one pass in C: rows are mostly flat
    if float in kinds:
        return True
    if dict in kinds or list in kinds:
        return any(has_float(item) for item in items if type(item) in (dict, list))
    return False


def _fragment(value: object) -> orjson.Fragment:
    if isinstance(value, JsonNumber):
        return orjson.Fragment(value.text)
    raise TypeError(f"{type(value).__name__} is not JSON")


def dumps_exact(value: Any) -> bytes:
    """Compact JSON with every `JsonNumber` and int written as received.

    A lone surrogate (valid in JSON input as a `\\ud800` escape) is written back as its escape,
    an integer past 64 bits with all its digits, and a value nested deeper than orjson
    writes (255 levels) as deep as the readers take it, all of which orjson refuses."""
    try:
        return orjson.dumps(value, default=_fragment)
    except orjson.JSONEncodeError:
        return _encode(value).encode()


def dumps_python(value: Any) -> bytes:
    """`dumps_exact` for a value a Python caller built (the CDK's `write`), whose floats may
    be NaN or infinite: those are written as the tokens `NaN`, `Infinity` and `-Infinity`,
    as Python's json module writes them and the reader takes them, where orjson would write
    null (a NaN in a used field would read as no value, a STATE come back with null)."""
    line = dumps_exact(value)
    if b"null" in line and has_float(value):
        return _encode(value).encode()
    return line


class _Text:
    """JSON text to write as it is (punctuation, an object's key), among values to write."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text


_CLOSE_OBJECT, _CLOSE_ARRAY, _COMMA = _Text("}"), _Text("]"), _Text(",")


def _encode(value: Any) -> str:
    # Iterative, so nesting as deep as the readers take (about 1,000 levels) is written
    # without running out of Python's stack.
    parts: list[str] = []
    todo: list[Any] = [value]
    while todo:
        item = todo.pop()
        if isinstance(item, _Text | JsonNumber):
            parts.append(item.text)
        elif isinstance(item, dict):
            parts.append("{")
            todo.append(_CLOSE_OBJECT)
            entries = list(item.items())
            for number in range(len(entries) - 1, -1, -1):
                key, member = entries[number]
                todo.append(member)
                key_text = json.dumps(str(key), ensure_ascii=True)
                todo.append(_Text(f",{key_text}:" if number else f"{key_text}:"))
        elif isinstance(item, list | tuple):
            parts.append("[")
            todo.append(_CLOSE_ARRAY)
            for number in range(len(item) - 1, -1, -1):
                todo.append(item[number])
                if number:
                    todo.append(_COMMA)
        else:
            parts.append(json.dumps(item, ensure_ascii=True))
    return "".join(parts)


def shown(value: object) -> str:
    """A value as it may appear in a reason: repr, truncated, with its length when cut."""
    try:
        text = repr(value)
    except ValueError:  # an int past Python's 4300-digit str limit, maybe inside a list
        return "a number too large to show"
    if len(text) > SHOWN_VALUE_LENGTH:
        return f"{text[: SHOWN_VALUE_LENGTH - 3]}{CUT_MARK}{len(text)} characters)"
    return text
