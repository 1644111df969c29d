"""The spec snapshot, as Airbyte's connectors keep one (integration_tests/expected-spec...):
any change to what `spec` prints is a visible diff in review, and fails here until the
snapshot is updated with `make spec-snapshot` (scripts/expected_spec.py)."""

from __future__ import annotations

import difflib

from scripts.expected_spec import SNAPSHOT, printed_spec, render


def test_the_printed_spec_is_the_committed_snapshot() -> None:
    expected = SNAPSHOT.read_text(encoding="utf-8")
    printed = render(printed_spec())
    diff = "".join(
        difflib.unified_diff(
            expected.splitlines(keepends=True),
            printed.splitlines(keepends=True),
            "integration_tests/expected-spec.json",
            "destination-propexo spec",
        )
    )
    assert not diff, f"The spec changed; if intended, run `make spec-snapshot`:\n{diff}"
