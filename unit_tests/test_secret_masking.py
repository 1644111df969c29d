"""The config's secrets, found from the spec and masked in everything written."""

from __future__ import annotations

import io
from collections.abc import Iterator

import orjson
import pytest

from destination_propexo.airbyte.protocol import Emitter
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


@pytest.mark.parametrize(
    "value",
    [
        {"reason": 'a "quoted" value \\ with a backslash', "n": 1, "none": None},
        {"reason": "line\nbreak\ttab \x00 nul \x1f unit, \u2028 and 😀 ünï", "list": [1.5, "x"]},
        {"reason": "plain"},
    ],
)
def test_a_json_log_line_carries_the_value_as_compact_json_text(value: dict[str, object]) -> None:
    out = io.BytesIO()
    Emitter(out).log_json("WARN", "record outcome: ", value)
    line = out.getvalue()
    assert line.endswith(b"}\n") and line.count(b"\n") == 1
    message = orjson.loads(line)
    assert message == {
        "type": "LOG",
        "log": {"level": "WARN", "message": "record outcome: " + orjson.dumps(value).decode()},
    }


@pytest.mark.parametrize("secret", ["tok-123", 'to"k\\en', "tök\n€n"])
def test_a_json_log_line_masks_a_secret_however_json_writes_it(secret: str) -> None:
    update_secrets([secret])
    out = io.BytesIO()
    Emitter(out).log_json("WARN", "record outcome: ", {"reason": f"got {secret} here"})
    message = orjson.loads(out.getvalue())["log"]["message"]
    assert orjson.loads(message.removeprefix("record outcome: ")) == {"reason": "got **** here"}
