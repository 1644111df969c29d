"""`spec` and `check` as Airbyte runs them."""

from __future__ import annotations

import pytest

from integration_tests.conftest import TOKEN, Cli


def test_spec_prints_one_spec_message_with_the_required_options(cli: Cli) -> None:
    result = cli.run("spec")
    assert result.returncode == 0
    (message,) = result.messages
    spec = message["spec"]
    assert spec["connectionSpecification"]["required"] == ["token", "integration_id"]
    assert spec["connectionSpecification"]["properties"]["token"]["airbyte_secret"] is True
    assert spec["supported_destination_sync_modes"] == ["append", "append_dedup", "update"]


def test_check_succeeds_for_an_active_resman_integration(cli: Cli) -> None:
    result = cli.run("check")
    (status,) = [m["connectionStatus"] for m in result.of_type("CONNECTION_STATUS")]
    assert status["status"] == "SUCCEEDED"


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"token": "wrong-token-123"}, "refused the API token"),
        ({"integration_id": "intg-nope"}, "was not found"),
        ({"integration_id": "intg-sandbox-mri"}, "does not document how MRI reads"),
        ({"integration_id": "intg-sandbox-inactive"}, "is not active"),
        ({"api_url": "http://example.com"}, "must use https"),
        ({"source_timezone": "Mars/Olympus"}, "source_timezone"),
        ({"token": ""}, "token"),
    ],
)
def test_check_fails_saying_what_is_wrong(
    cli: Cli, overrides: dict[str, str], expected: str
) -> None:
    result = cli.run("check", config=cli.config(**overrides))
    assert result.returncode == 0
    (status,) = [m["connectionStatus"] for m in result.of_type("CONNECTION_STATUS")]
    assert status["status"] == "FAILED"
    assert expected in status["message"]
    assert "wrong-token-123" not in result.stdout + result.stderr
    assert TOKEN not in result.stdout + result.stderr


def test_check_reports_an_unreachable_api(cli: Cli) -> None:
    result = cli.run("check", config=cli.config(api_url="http://127.0.0.1:9"))
    (status,) = [m["connectionStatus"] for m in result.of_type("CONNECTION_STATUS")]
    assert status["status"] == "FAILED"
    assert "Could not check the integration" in status["message"]
