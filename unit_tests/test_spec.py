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

from destination_propexo.config import PropexoConfig

SPEC = yaml.safe_load((Path(__file__).parent.parent / "spec.yaml").read_text(encoding="utf-8"))
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


@pytest.mark.parametrize("name", [n for n in OPTIONS if not PROPERTIES[n].get("airbyte_secret")])
def test_each_option_that_is_not_a_secret_shows_examples(name: str) -> None:
    assert PROPERTIES[name]["examples"]


@pytest.mark.parametrize("name", OPTIONS)
def test_each_default_is_the_configs_default(name: str) -> None:
    field = PropexoConfig.model_fields[name]
    if field.is_required():
        assert "default" not in PROPERTIES[name]
        return
    default = field.get_default(call_default_factory=True)
    if default is None:  # optional without a value: the UI shows it empty
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
    assert PROPERTIES["dry_run"]["group"] == "advanced"
    assert PROPERTIES["dry_run"]["default"] is False
    assert PROPERTIES["rejected_records_path"]["group"] == "advanced"
    assert PROPERTIES["rejected_records_path"]["examples"] == ["/local/propexo/rejected.jsonl"]


@pytest.mark.parametrize("name", OPTIONS)
def test_each_option_is_in_the_user_guides_table(name: str) -> None:
    guide = (Path(__file__).parent.parent / "docs" / "propexo.md").read_text(encoding="utf-8")
    assert f"| {PROPERTIES[name]['title']} | `{name}` |" in guide
