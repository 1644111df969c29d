"""The gate of test_propexo_sandbox.py: its tests book tours, so they run against Propexo's
sandbox (or a stand-in on 127.0.0.1) and never against the API a config reaches by default,
Propexo's production API, whatever secrets/config.json holds."""

from __future__ import annotations

from typing import Any

import pytest

from destination_propexo.config import PRODUCTION_URL, SANDBOX_URL
from integration_tests.test_propexo_sandbox import sandbox_only

SECRETS: dict[str, Any] = {
    "token": "sandbox-token",
    "integration_id": "intg-1",
    "test_data": {"lead_id": "lead-1", "lead_source_id": "source-1"},
}


@pytest.mark.parametrize(
    "api_url",
    [None, PRODUCTION_URL, PRODUCTION_URL + "/", "https://api.propexo.com.example.net"],
)
def test_a_config_that_would_reach_another_api_than_the_sandbox_fails_the_tests(
    api_url: str | None,
) -> None:
    secrets = dict(SECRETS) if api_url is None else {**SECRETS, "api_url": api_url}
    with pytest.raises(pytest.fail.Exception) as refused:
        sandbox_only(secrets)
    message = str(refused.value)
    assert f"api_url must be {SANDBOX_URL}" in message
    assert "sandbox-token" not in message


@pytest.mark.parametrize(
    "api_url", [SANDBOX_URL, SANDBOX_URL + "/", "http://127.0.0.1:8765", "http://localhost:9"]
)
def test_the_sandbox_or_a_local_stand_in_is_used_as_given(api_url: str) -> None:
    config = sandbox_only({**SECRETS, "api_url": api_url})
    assert config == {"token": "sandbox-token", "integration_id": "intg-1", "api_url": api_url}
