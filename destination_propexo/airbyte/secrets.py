"""The secrets of the running command's config, masked in everything the connector writes.

The same rules as the Airbyte CDK's `airbyte_secrets_utils` (every value whose spec property
has `airbyte_secret: true`, replaced by `****`), kept here because importing that module
imports the whole CDK, about 2.5 s of every `spec` and `check`. Longer secrets are masked
first, so a secret holding a shorter one is never left half visible.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

import orjson

from destination_propexo.records.values import CUT_MARK

MASK = "****"
# The shortest head of a secret masked where a reason cut the rest off.
_SHORTEST_HEAD = 4
# Each secret in every form the connector may write it, longest first: raw; as a reason
# quotes a value (Python's repr, which escapes a backslash, a quote and control characters);
# and each of those as JSON writes it inside a string (a log line, an outcome entry).
_secret_forms: tuple[str, ...] = ()


def secret_paths(schema: Mapping[str, Any]) -> list[list[str]]:
    """Config paths of the spec's `airbyte_secret` properties (`oneOf` branches merged)."""
    paths: list[list[str]] = []

    def walk(item: Any, path: list[str]) -> None:
        if isinstance(item, Mapping):
            for key, value in item.items():
                walk(value, [*path, str(key)])
        elif isinstance(item, list):
            for value in item:
                walk(value, path)
        elif path and path[-1] == "airbyte_secret" and item is True:
            paths.append([p for p in path[:-1] if p not in ("properties", "oneOf")])

    walk(schema.get("properties", {}), [])
    return paths


def get_secrets(
    connection_specification: Mapping[str, Any], config: Mapping[str, Any]
) -> list[str]:
    """The secret values present in `config` (a path absent from it is skipped)."""
    found: list[str] = []
    for path in secret_paths(connection_specification):
        value: Any = config
        for part in path:
            value = value.get(part) if isinstance(value, Mapping) else None
        if value is not None and not isinstance(value, Mapping | list):
            found.append(str(value))
    return found


def update_secrets(secrets: Iterable[str]) -> None:
    """Mask these values (and no others) from now on."""
    global _secret_forms
    quoted = {form for secret in secrets if secret for form in _quoted_forms(secret)}
    forms = {form for text in quoted for form in (text, _json_escaped(text))}
    _secret_forms = tuple(sorted(forms, key=len, reverse=True))


def _quoted_forms(secret: str) -> set[str]:
    """`secret` raw and as repr writes it inside a longer text: quoted with `'` (a `'`
    escaped), or, in a text holding a `'` and no `"`, with `"` (nothing quote escaped)."""
    forms = {secret, repr(f'"{secret}')[2:-1]}
    if '"' not in secret:
        forms.add(repr(f"'{secret}")[2:-1])
    return forms


def _json_escaped(text: str) -> str:
    try:
        return orjson.dumps(text)[1:-1].decode()
    except orjson.JSONEncodeError:  # a lone surrogate: as the reader's JSON escapes it
        return json.dumps(text)[1:-1]


def filter_secrets(text: str) -> str:
    """`text` (plain, or JSON) with every known secret, in any form it may be written in
    (raw, quoted by a reason, JSON-escaped), replaced by `****`; so is the head of one that
    a reason cut short (`values.shown`: the head, then `... (`)."""
    for secret in _secret_forms:
        if secret in text:
            text = text.replace(secret, MASK)
    if CUT_MARK in text:
        for secret in _secret_forms:
            for length in range(len(secret) - 1, _SHORTEST_HEAD - 1, -1):
                head = secret[:length] + CUT_MARK
                if head in text:
                    text = text.replace(head, MASK + CUT_MARK)
    return text
