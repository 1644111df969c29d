"""`object_storage_config` as load_config reads it: a bad value is refused with a reason that
names the field and the value (never a key), and an emptied region means no region."""

from __future__ import annotations

from typing import Any

import pytest

from destination_propexo.config import S3ObjectStorage, load_config
from destination_propexo.errors import ConfigError

SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCY0SECRET42"


def config(**storage: Any) -> dict[str, Any]:
    block = {
        "storage_type": "S3",
        "access_key_id": "AKIAOPENTESTKEY00000",
        "secret_access_key": SECRET,
        "s3_bucket_name": "rejected",
        "s3_bucket_region": "",
        "s3_endpoint": "http://127.0.0.1:9000",
        "bucket_path": "propexo",
        **storage,
    }
    return {"token": "t", "integration_id": "i", "object_storage_config": block}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("s3_bucket_region", "US East (N. Virginia)"),
        ("role_arn", "airbyte-rejected-records"),
        ("role_arn", "arn:aws:iam::123456789012:user/airbyte"),
        ("s3_bucket_name", "rejected/propexo"),
    ],
)
def test_a_bad_value_is_named_with_its_field(field: str, value: str) -> None:
    with pytest.raises(ConfigError) as refused:
        load_config(config(**{field: value}))
    message = str(refused.value)
    assert f"object_storage_config.S3.{field}: " in message
    assert repr(value) in message
    assert SECRET not in message


def test_an_emptied_region_is_no_region_as_for_an_s3_compatible_store() -> None:
    for emptied in (None, "", "  "):
        storage = load_config(config(s3_bucket_region=emptied)).object_storage_config
        assert isinstance(storage, S3ObjectStorage)
        assert storage.s3_bucket_region == ""
