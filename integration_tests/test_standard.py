"""Airbyte's standard connector tests (`airbyte_cdk.test.standard_tests`) on this destination.

The scenarios are those of `acceptance-test-config.yml` at the repository root: `spec` checks
that each listed config fits the spec, `connection` runs `check` in-process and expects the
declared status (and no secret in the output). Configs under `secrets/` point at the local
sandbox, whose URL is known only once it runs, so they are written for each test run into a
folder of its own that stands in for `secrets/` (runs side by side never share one).

The CDK's image tests need a Docker daemon; without one they skip, and the image is tested
with podman by `test_image.py`. The published-spec comparison always skips: the connector
has no published version, and these tests make no calls beyond 127.0.0.1.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from airbyte_cdk.test.standard_tests import ConnectorTestScenario, DestinationTestSuiteBase
from airbyte_cdk.test.standard_tests._job_runner import run_test_job
from airbyte_cdk.test.standard_tests._spec_lint import assert_spec_is_valid, get_single_spec

from destination_propexo.destination import DestinationPropexo
from integration_tests.conftest import INTEGRATION, TOKEN
from propexo_sandbox import Sandbox

ROOT = Path(__file__).resolve().parent.parent
SECRETS = Path(tempfile.gettempdir()) / f"destination-propexo-secrets-{os.getpid()}"


def _in_run_secrets(scenario: ConnectorTestScenario) -> ConnectorTestScenario:
    path = scenario.config_path
    if path is None or path.is_absolute() or path.parts[0] != "secrets":
        return scenario
    return scenario.model_copy(update={"config_path": SECRETS.joinpath(*path.parts[1:])})


@functools.cache
def _docker_daemon_reachable() -> bool:
    if shutil.which("docker") is None:
        return False
    info = subprocess.run(["docker", "info"], capture_output=True, check=False, timeout=30)
    return info.returncode == 0


class TestDestinationPropexo(DestinationTestSuiteBase):
    """The CDK's suite: spec, check and config-matches-spec, plus the image tests."""

    connector = DestinationPropexo
    # The checkout's folder name is not the connector's name (the CDK's default).
    connector_name = "destination-propexo"

    @classmethod
    def get_connector_root_dir(cls) -> Path:
        return ROOT

    @classmethod
    def get_scenarios(cls) -> list[ConnectorTestScenario]:
        return [_in_run_secrets(scenario) for scenario in super().get_scenarios()]

    @pytest.fixture(scope="class", autouse=True)
    @classmethod
    def sandbox_secrets(cls) -> Iterator[Path]:
        """A sandbox, and the secrets/ configs that point at it."""
        with Sandbox(write_status_delay=0.05) as sandbox:
            SECRETS.mkdir(parents=True, exist_ok=True)
            base = {"token": TOKEN, "integration_id": INTEGRATION, "api_url": sandbox.url}
            configs = {
                "config.json": base,
                "config_wrong_token.json": {**base, "token": "not-the-sandbox-token-1234"},
            }
            for name, config in configs.items():
                (SECRETS / name).write_text(json.dumps(config), encoding="utf-8")
            try:
                yield SECRETS
            finally:
                shutil.rmtree(SECRETS, ignore_errors=True)

    @pytest.fixture(autouse=True)
    def image_tests_need_docker(self, request: pytest.FixtureRequest) -> None:
        if request.node.get_closest_marker("image_tests") is None:
            return
        if request.node.originalname == "test_docker_image_spec_backward_compatibility":
            pytest.skip("never published, and the tests call nothing beyond 127.0.0.1")
        if not _docker_daemon_reachable():
            pytest.skip("no Docker daemon; integration_tests/test_image.py tests the image")

    def test_spec_passes_the_cdk_spec_lint(self) -> None:
        """The lint the CDK runs on the image's spec, run here on the connector's own."""
        result = run_test_job(self.create_connector(None), "spec", connector_root=ROOT)
        spec = get_single_spec(result, connector_name=self.connector_name)
        assert_spec_is_valid(spec, connector_name=self.connector_name)

    def test_the_scenarios_cover_success_and_failure(self) -> None:
        statuses = {(s.id, s.status) for s in self.get_scenarios() if s.runs("check")}
        assert statuses == {
            ("config", "succeed"),
            ("config_wrong_token", "failed"),
            ("invalid_config", "failed"),
        }
