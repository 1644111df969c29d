"""spec.yaml is what the Airbyte UI draws: every option titled, described, placed and exemplified,
and in step with the typed config."""

from __future__ import annotations

import re
import zoneinfo
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel

from destination_propexo.config import (
    CsvFormat,
    JsonLinesFormat,
    NoObjectStorage,
    PropexoConfig,
    S3ObjectStorage,
)

SPEC = yaml.safe_load(
    (Path(__file__).parent.parent / "destination_propexo" / "spec.yaml").read_text(encoding="utf-8")
)
CONNECTION = SPEC["connectionSpecification"]
PROPERTIES: dict[str, dict[str, Any]] = CONNECTION["properties"]
OPTIONS = sorted(PROPERTIES)


def test_the_spec_and_the_config_name_the_same_options() -> None:
    assert set(PROPERTIES) == set(PropexoConfig.model_fields)


def test_required_options_are_the_ones_the_config_cannot_default() -> None:
    no_default = {name for name, f in PropexoConfig.model_fields.items() if f.is_required()}
    assert set(CONNECTION["required"]) == no_default


@pytest.mark.parametrize("name", OPTIONS)
def test_each_option_has_a_title_a_description_an_order_and_a_group(name: str) -> None:
    option = PROPERTIES[name]
    assert option["title"].strip()
    assert len(option["description"]) >= 40
    assert isinstance(option["order"], int)
    assert option["group"] in {group["id"] for group in CONNECTION["groups"]}


@pytest.mark.parametrize(
    "name",
    [
        n
        for n in OPTIONS
        if not PROPERTIES[n].get("airbyte_secret") and "oneOf" not in PROPERTIES[n]
    ],
)
def test_each_option_that_is_not_a_secret_or_a_choice_shows_examples(name: str) -> None:
    assert PROPERTIES[name]["examples"]


@pytest.mark.parametrize("name", OPTIONS)
def test_each_default_is_the_configs_default(name: str) -> None:
    field = PropexoConfig.model_fields[name]
    if field.is_required():
        assert "default" not in PROPERTIES[name]
        return
    default = field.get_default(call_default_factory=True)
    if isinstance(default, BaseModel):  # a choice: the UI starts on its first option
        first = PROPERTIES[name]["oneOf"][0]["properties"]
        assert {key: option["default"] for key, option in first.items()} == default.model_dump()
    elif default is None:  # optional without a value: the UI shows it empty
        assert "default" not in PROPERTIES[name]
    else:
        assert PROPERTIES[name]["default"] == default


def test_orders_are_unique_within_each_group() -> None:
    per_group = Counter((option["group"], option["order"]) for option in PROPERTIES.values())
    assert [key for key, count in per_group.items() if count > 1] == []


def test_every_pattern_has_a_pattern_descriptor() -> None:
    for name, option in PROPERTIES.items():
        if "pattern" in option:
            assert option.get("pattern_descriptor"), name


def test_every_example_matches_its_pattern() -> None:
    for option in PROPERTIES.values():
        for example in option.get("examples", []) if "pattern" in option else []:
            assert re.search(option["pattern"], example), example


def test_the_time_zone_pattern_accepts_every_iana_zone() -> None:
    pattern = re.compile(PROPERTIES["source_timezone"]["pattern"])
    refused = [zone for zone in zoneinfo.available_timezones() if not pattern.search(zone)]
    assert refused == []
    assert pattern.search(" america/chicago ")
    assert not pattern.search("+05:00")


def test_the_operator_tools_sit_in_the_advanced_group() -> None:
    assert PROPERTIES["object_storage_config"]["group"] == "advanced"
    assert PROPERTIES["dry_run"]["group"] == "advanced"
    assert PROPERTIES["dry_run"]["default"] is False
    assert PROPERTIES["rejected_records_path"]["group"] == "advanced"
    assert PROPERTIES["rejected_records_path"]["examples"] == ["/local/propexo/rejected.jsonl"]


@pytest.mark.parametrize("name", OPTIONS)
def test_each_option_is_in_the_user_guides_table(name: str) -> None:
    guide = (Path(__file__).parent.parent / "docs" / "propexo.md").read_text(encoding="utf-8")
    assert f"| {PROPERTIES[name]['title']} | `{name}` |" in guide


OBJECT_STORAGE = PROPERTIES["object_storage_config"]
CHOICES: list[tuple[dict[str, Any], type[BaseModel]]] = [
    (OBJECT_STORAGE["oneOf"][0], NoObjectStorage),
    (OBJECT_STORAGE["oneOf"][1], S3ObjectStorage),
    (OBJECT_STORAGE["oneOf"][1]["properties"]["format"]["oneOf"][0], JsonLinesFormat),
    (OBJECT_STORAGE["oneOf"][1]["properties"]["format"]["oneOf"][1], CsvFormat),
]


@pytest.mark.parametrize(("choice", "model"), CHOICES, ids=lambda c: getattr(c, "__name__", ""))
def test_each_choice_names_the_fields_of_its_typed_config(
    choice: dict[str, Any], model: type[BaseModel]
) -> None:
    assert set(choice["properties"]) == set(model.model_fields)
    required = {name for name, f in model.model_fields.items() if f.is_required()}
    assert required <= set(choice["required"])
    for name, f in model.model_fields.items():
        if not f.is_required() and f.get_default(call_default_factory=True) is not None:
            default = f.get_default(call_default_factory=True)
            shown = default.model_dump() if isinstance(default, BaseModel) else default
            assert choice["properties"][name]["default"] == shown, name


def test_the_choices_use_airbytes_object_storage_field_names_and_titles() -> None:
    none, s3 = OBJECT_STORAGE["oneOf"]
    assert (none["title"], s3["title"]) == ("None", "S3")
    titles = {name: option.get("title") for name, option in s3["properties"].items()}
    assert titles == {
        "storage_type": None,
        "access_key_id": "Access Key ID",
        "secret_access_key": "Secret Access Key",
        "s3_bucket_name": "S3 Bucket Name",
        "s3_bucket_region": "S3 Bucket Region",
        "s3_endpoint": "S3 Endpoint",
        "bucket_path": "Prefix Path in the Bucket",
        "format": "Output Format",
    }
    formats = [
        option["properties"]["format_type"]["enum"]
        for option in s3["properties"]["format"]["oneOf"]
    ]
    assert formats == [["JSONL"], ["CSV"]]


def test_the_region_pattern_matches_what_the_config_accepts() -> None:
    pattern = re.compile(OBJECT_STORAGE["oneOf"][1]["properties"]["s3_bucket_region"]["pattern"])
    for region in ("", "us-east-1", " eu-west-3 ", "us-gov-west-1", "ap-southeast-5"):
        assert pattern.search(region)
        S3ObjectStorage.model_validate({**S3_BLOCK, "s3_bucket_region": region})
    for region in ("us east 1", "us-east-1/", "-us"):
        assert not pattern.search(region)


S3_BLOCK = {
    "storage_type": "S3",
    "access_key_id": "AKIAEXAMPLE",
    "secret_access_key": "example",
    "s3_bucket_name": "b",
    "bucket_path": "p",
}


def test_both_keys_of_the_bucket_are_secrets_and_every_other_field_shows_examples() -> None:
    s3 = OBJECT_STORAGE["oneOf"][1]["properties"]
    assert [n for n, option in s3.items() if option.get("airbyte_secret")] == [
        "access_key_id",
        "secret_access_key",
    ]
    for name, option in s3.items():
        if name not in ("storage_type", "format"):
            assert option["examples"] and len(option["description"]) >= 30, name
