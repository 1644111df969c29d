"""metadata.yaml, what Airbyte's registry and PyAirbyte read: the PyPI package, the base image,
the releases block, the vendor's documentation and the test secrets."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import yaml
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parent.parent
DATA: dict[str, Any] = yaml.safe_load((ROOT / "metadata.yaml").read_text(encoding="utf-8"))["data"]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]


def test_the_registry_installs_the_distribution_pyproject_builds() -> None:
    pypi = DATA["remoteRegistries"]["pypi"]
    assert pypi == {"enabled": True, "packageName": PROJECT["name"]}
    assert PROJECT["name"] == "airbyte-destination-propexo"
    # PyAirbyte runs the command named like the connector, from that package.
    assert DATA["dockerRepository"] == "airbyte/destination-propexo"
    assert "destination-propexo" in PROJECT["scripts"]


def test_the_base_image_is_python_connector_base_4_1_pinned_by_digest() -> None:
    base = DATA["connectorBuildOptions"]["baseImage"]
    assert re.fullmatch(
        r"docker\.io/airbyte/python-connector-base:4\.1\.\d+@sha256:[0-9a-f]{64}", base
    )


def test_releases_and_the_vendors_documentation_are_declared() -> None:
    assert DATA["releases"]["rolloutConfiguration"]["enableProgressiveRollout"] is False
    urls = DATA["externalDocumentationUrls"]
    assert {entry["type"] for entry in urls} >= {"api_reference", "rate_limits"}
    for entry in urls:
        assert entry["title"] and entry["url"].startswith("https://docs.propexo.com/")


def test_the_integration_suite_names_the_secret_the_real_sandbox_tests_read() -> None:
    (suite,) = [s for s in DATA["connectorTestSuitesOptions"] if s["suite"] == "integrationTests"]
    assert [secret["fileName"] for secret in suite["testSecrets"]] == ["config.json"]
    assert "/secrets/" in (ROOT / ".gitignore").read_text(encoding="utf-8").split()


def test_the_boto3_floor_has_the_client_options_the_object_store_sets() -> None:
    # outputs/object_store.py sets botocore's request_checksum_calculation, which botocore
    # 1.36 (boto3 1.36) introduced: under `boto3>=1.34`, pip could keep a 1.34 or 1.35 already
    # installed, and every check with object storage then failed with a TypeError.
    (boto3,) = [
        Requirement(spec) for spec in PROJECT["dependencies"] if Requirement(spec).name == "boto3"
    ]
    assert not boto3.specifier.contains("1.35.99")
    assert boto3.specifier.contains("1.36.0")
