"""The config's secrets, found from the spec and masked in everything written."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from destination_propexo.airbyte.secrets import filter_secrets, get_secrets, update_secrets
from destination_propexo.destination import load_spec


@pytest.fixture(autouse=True)
def _forget() -> Iterator[None]:
    yield
    update_secrets([])


def test_every_airbyte_secret_of_the_config_is_found_also_inside_a_oneof() -> None:
    config = {
        "token": "tok-123",
        "integration_id": "intg-1",
        "object_storage_config": {
            "storage_type": "S3",
            "access_key_id": "AKIAEXAMPLE",
            "secret_access_key": "s3cr3t/key",
        },
    }
    spec = load_spec()["connectionSpecification"]
    assert sorted(get_secrets(spec, config)) == ["AKIAEXAMPLE", "s3cr3t/key", "tok-123"]


def test_a_secret_holding_a_shorter_one_is_masked_whole() -> None:
    update_secrets(["abc", "abcdef"])
    assert filter_secrets("x abcdef y abc") == "x **** y ****"
