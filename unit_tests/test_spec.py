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
    GzipCompression,
    JsonLinesFormat,
    NoCompression,
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
    (OBJECT_STORAGE["oneOf"][1]["properties"]["format"]["oneOf"][0], CsvFormat),
    (OBJECT_STORAGE["oneOf"][1]["properties"]["format"]["oneOf"][1], JsonLinesFormat),
    (OBJECT_STORAGE["oneOf"][1]["properties"]["compression"]["oneOf"][0], NoCompression),
    (OBJECT_STORAGE["oneOf"][1]["properties"]["compression"]["oneOf"][1], GzipCompression),
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
            option = choice["properties"][name]
            if isinstance(default, BaseModel):  # a choice: the UI starts on its first option
                first = option["oneOf"][0]["properties"]
                assert {k: o["default"] for k, o in first.items()} == default.model_dump(), name
                # Airbyte's spec names the default choice by its type ("CSV"), if at all.
                assert option.get("default", "") in ("", *default.model_dump().values()), name
            else:
                assert option["default"] == default, name


# Airbyte's data-activation destinations (Salesforce, HubSpot, Customer.io) share this block:
# its S3 choice, field for field (name, title, order, hidden), and its required fields.
AIRBYTE_S3_FIELDS = [
    ("storage_type", None, None, False),
    ("access_key_id", "Access Key ID", 1, False),
    ("secret_access_key", "Secret Access Key", 2, False),
    ("role_arn", "Role ARN", 3, False),
    ("s3_bucket_name", "S3 Bucket Name", 4, False),
    ("s3_bucket_region", "S3 Bucket Region", 5, False),
    ("s3_endpoint", "S3 Endpoint", 6, False),
    ("bucket_path", "Prefix Path in the Bucket", 7, False),
    ("format", "Output Format", 8, True),
    ("compression", "Compression", None, True),
    ("path_format", None, 10, True),
    ("file_name_format", None, 11, True),
]
AIRBYTE_S3_REQUIRED = [
    "storage_type",
    "s3_bucket_name",
    "s3_bucket_region",
    "bucket_path",
    "format",
]
AIRBYTE_REGIONS = [
    "", "af-south-1", "ap-east-1", "ap-northeast-1", "ap-northeast-2", "ap-northeast-3",
    "ap-south-1", "ap-south-2", "ap-southeast-1", "ap-southeast-2", "ap-southeast-3",
    "ap-southeast-4", "ca-central-1", "ca-west-1", "cn-north-1", "cn-northwest-1",
    "eu-central-1", "eu-central-2", "eu-north-1", "eu-south-1", "eu-south-2", "eu-west-1",
    "eu-west-2", "eu-west-3", "il-central-1", "me-central-1", "me-south-1", "sa-east-1",
    "us-east-1", "us-east-2", "us-gov-east-1", "us-gov-west-1", "us-west-1", "us-west-2",
]  # fmt: skip


def test_the_s3_choice_has_airbytes_fields_titles_orders_and_hidden_fields() -> None:
    none, s3 = OBJECT_STORAGE["oneOf"]
    assert (none["title"], s3["title"]) == ("None", "S3")
    fields = [
        (name, option.get("title"), option.get("order"), option.get("airbyte_hidden", False))
        for name, option in s3["properties"].items()
    ]
    assert fields == AIRBYTE_S3_FIELDS
    assert s3["required"] == AIRBYTE_S3_REQUIRED


def test_the_region_is_one_of_airbytes_list_and_may_be_empty_for_s3_compatible_stores() -> None:
    region = OBJECT_STORAGE["oneOf"][1]["properties"]["s3_bucket_region"]
    assert (region["enum"], region["default"]) == (AIRBYTE_REGIONS, "")
    for code in AIRBYTE_REGIONS:
        assert S3ObjectStorage.model_validate({**S3_BLOCK, "s3_bucket_region": code})


def test_the_formats_and_their_defaults_are_airbytes() -> None:
    s3 = OBJECT_STORAGE["oneOf"][1]["properties"]
    formats = s3["format"]["oneOf"]
    assert [f["properties"]["format_type"]["enum"] for f in formats] == [["CSV"], ["JSONL"]]
    assert [f["required"] for f in formats] == [["format_type", "flattening"], ["format_type"]]
    for choice in formats:
        assert choice["properties"]["flattening"]["default"] == "No flattening"
    # Airbyte's default names the CSV choice; the typed config starts there too.
    assert (s3["format"]["default"], s3["format"]["airbyte_hidden"]) == ("CSV", True)
    assert isinstance(S3ObjectStorage.model_validate(S3_BLOCK).format, CsvFormat)
    compressions = [c["properties"]["compression_type"]["enum"] for c in s3["compression"]["oneOf"]]
    assert compressions == [["No Compression"], ["GZIP"]]
    assert s3["path_format"]["default"] == "{sync_id}/{namespace}/{stream_name}/"
    assert s3["file_name_format"]["default"] == "{date}_{timestamp}_{part_number}{format_extension}"


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
        if name not in ("storage_type", "format", "compression"):
            assert option["examples"] and len(option["description"]) >= 30, name


def test_a_default_title_is_measured_in_utf16_code_units_as_propexo_does() -> None:
    base = {"token": "t", "integration_id": "intg-1"}
    assert PropexoConfig.model_validate({**base, "default_title": "😀" * 25}).default_title
    with pytest.raises(ValueError, match="default_title"):
        PropexoConfig.model_validate({**base, "default_title": "😀" * 26})
