"""The secrets of the running command's config, masked in everything the connector writes.

The same rules as the Airbyte CDK's `airbyte_secrets_utils` (every value whose spec property
has `airbyte_secret: true`, replaced by `****`), kept here because importing that module
imports the whole CDK, about 2.5 s of every `spec` and `check`. Longer secrets are masked
first, so a secret holding a shorter one is never left half visible.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import orjson

MASK = "****"
_secrets: tuple[str, ...] = ()
# Each secret raw and as JSON writes it inside a string (a quote, a backslash or a control
# character escaped), longest first.
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
    global _secrets, _secret_forms
    _secrets = tuple(sorted({s for s in secrets if s}, key=len, reverse=True))
    forms = {form for s in _secrets for form in (s, orjson.dumps(s)[1:-1].decode())}
    _secret_forms = tuple(sorted(forms, key=len, reverse=True))


def filter_secrets_json(text: str) -> str:
    """JSON `text` with every known secret, raw or JSON-escaped, replaced by `****`."""
    for secret in _secret_forms:
        if secret in text:
            text = text.replace(secret, MASK)
    return text


def filter_secrets(text: str) -> str:
    """`text` with every known secret replaced by `****`."""
    for secret in _secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    return text
