"""The built images, run as Airbyte runs them: podman, config files under /secrets, stdout
messages. Both ways of building are tested alike: the Dockerfile (uv.lock's packages) and
Dockerfile.airbyte (Airbyte's python-connector template: `pip install .`, /entrypoint.sh).

`bash scripts/image.sh` builds localhost/destination-propexo:dev and
localhost/destination-propexo:airbyte-build; without them these tests skip. Set
DESTINATION_PROPEXO_IMAGE or DESTINATION_PROPEXO_AIRBYTE_IMAGE to test other images; a named
image that is missing fails. A default-tagged image whose build-context label
(scripts/build_context.py) is not this tree's fails too, asking for a rebuild: those tags are
shared by every checkout on the machine and outlive their commit.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from integration_tests.conftest import (
    INTEGRATION,
    TOKEN,
    booked_slots,
    catalog,
    jsonl,
    stream_state,
    tour,
)
from propexo_sandbox import Sandbox
from scripts.build_context import LABEL, digest

ROOT = Path(__file__).parent.parent
VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
# Per way of building: the variable naming the image under test, its default tag, and the
# entrypoint its Dockerfile declares.
BUILDS = {
    "Dockerfile": ("DESTINATION_PROPEXO_IMAGE", "localhost/destination-propexo:dev"),
    "Dockerfile.airbyte": (
        "DESTINATION_PROPEXO_AIRBYTE_IMAGE",
        "localhost/destination-propexo:airbyte-build",
    ),
}
ENTRYPOINTS = {"Dockerfile": "destination-propexo", "Dockerfile.airbyte": "/entrypoint.sh"}
# crun and podman's default rlimits fail on the build machines; runc with these limits works.
PODMAN = ("podman", "--runtime", "runc")
LIMITS = ("--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024")


@pytest.fixture(scope="module", params=sorted(BUILDS))
def dockerfile(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _built_from_this_tree(image: str) -> None:
    """Fails unless `image` carries this tree's build-context digest (scripts/build_context.py):
    the default tags are shared by every checkout on the machine and outlive their commit."""
    label = (
        subprocess.run(
            [*PODMAN, "image", "inspect", "--format", f'{{{{index .Labels "{LABEL}"}}}}', image],
            capture_output=True,
            check=True,
            timeout=60,
        )
        .stdout.decode()
        .strip()
    )
    here = digest(ROOT)
    if label != here:
        pytest.fail(
            f"{image} was built from another tree (build context {label or 'not labelled'}, "
            f"this tree {here}): rebuild it with `bash scripts/image.sh`",
            pytrace=False,
        )


@pytest.fixture(scope="module")
def image(dockerfile: str) -> str:
    """The image under test, or a skip when none was built."""
    variable, default = BUILDS[dockerfile]
    named = os.environ.get(variable)
    image = named or default
    if shutil.which("podman") is None:
        missing = "podman is not installed"
    elif subprocess.run([*PODMAN, "image", "exists", image], check=False, timeout=60).returncode:
        missing = f"podman has no image {image}"
    else:
        if not named:
            _built_from_this_tree(image)
        return image
    if named:
        pytest.fail(f"{variable} names an image to test, but {missing}")
    pytest.skip(f"{missing}: build it with `bash scripts/image.sh`")


@dataclass(frozen=True)
class Container:
    """Runs the image with `--network=host` (to reach the sandbox) and /secrets mounted."""

    image: str
    secrets: Path

    def run(
        self, *args: str, stdin: bytes = b"", entrypoint: str | None = None
    ) -> subprocess.CompletedProcess[bytes]:
        options = ["--entrypoint", entrypoint] if entrypoint else []
        return subprocess.run(
            [
                *PODMAN,
                "run",
                "--rm",
                "-i",
                "--network=host",
                *LIMITS,
                "--volume",
                f"{self.secrets}:/secrets:ro",
                *options,
                self.image,
                *args,
            ],
            input=stdin,
            capture_output=True,
            timeout=180,
            check=False,
        )

    def messages(self, *args: str, stdin: bytes = b"") -> list[dict[str, Any]]:
        """Runs a connector command and returns its stdout as Airbyte messages."""
        done = self.run(*args, stdin=stdin)
        assert done.returncode == 0, done.stderr.decode()
        return [json.loads(line) for line in done.stdout.decode().splitlines()]


@pytest.fixture
def container(image: str, tmp_path: Path, sandbox: Sandbox) -> Container:
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    config = {"token": TOKEN, "integration_id": INTEGRATION, "api_url": sandbox.url}
    (secrets / "config.json").write_text(json.dumps(config))
    (secrets / "catalog.json").write_text(json.dumps(catalog(("tours", "append"))))
    # The connector runs as uid 1000, not as the owner of these files.
    secrets.chmod(0o755)
    for path in secrets.iterdir():
        path.chmod(0o644)
    return Container(image, secrets)


@pytest.mark.parametrize("name", sorted(BUILDS))
def test_the_dockerfiles_metadata_and_pyproject_agree_on_base_image_and_version(name: str) -> None:
    dockerfile = (ROOT / name).read_text()
    metadata = yaml.safe_load((ROOT / "metadata.yaml").read_text())["data"]
    base_image = metadata["connectorBuildOptions"]["baseImage"]
    assert f"ARG BASE_IMAGE={base_image}\n" in dockerfile
    assert metadata["dockerImageTag"] == VERSION
    assert f"io.airbyte.version={VERSION}" in dockerfile


def test_the_container_runs_as_the_non_root_airbyte_user(container: Container) -> None:
    done = container.run(entrypoint="id")
    assert done.stdout.decode().startswith("uid=1000(airbyte) ")


def test_the_image_declares_the_airbyte_entrypoint_and_version(image: str, dockerfile: str) -> None:
    done = subprocess.run(
        [*PODMAN, "image", "inspect", image], capture_output=True, check=True, timeout=60
    )
    (config,) = [described["Config"] for described in json.loads(done.stdout)]
    entrypoint = ENTRYPOINTS[dockerfile]
    assert config["Entrypoint"] == [entrypoint]
    assert f"AIRBYTE_ENTRYPOINT={entrypoint}" in config["Env"]
    assert config["Labels"]["io.airbyte.name"] == "airbyte/destination-propexo"
    assert config["Labels"]["io.airbyte.version"] == VERSION


def test_spec_prints_the_packaged_spec_yaml(container: Container) -> None:
    (message,) = container.messages("spec")
    expected = yaml.safe_load((ROOT / "destination_propexo" / "spec.yaml").read_text())
    assert message["type"] == "SPEC"
    assert message["spec"]["connectionSpecification"] == expected["connectionSpecification"]


def test_check_succeeds_against_the_sandbox(container: Container) -> None:
    messages = container.messages("check", "--config", "/secrets/config.json")
    (status,) = [m["connectionStatus"] for m in messages if m["type"] == "CONNECTION_STATUS"]
    assert status["status"] == "SUCCEEDED", status


def test_write_books_the_records_and_echoes_the_state(
    container: Container, sandbox: Sandbox
) -> None:
    stdin = jsonl([tour("lead-1"), tour("lead-2", time="15:00"), stream_state("tours", "2")])
    messages = container.messages(
        "write",
        "--config",
        "/secrets/config.json",
        "--catalog",
        "/secrets/catalog.json",
        stdin=stdin,
    )
    (state,) = [m["state"] for m in messages if m["type"] == "STATE"]
    assert state["stream"]["stream_state"] == {"cursor": "2"}
    assert state["destinationStats"]["recordCount"] == 2
    assert sorted(lead for lead, _ in booked_slots(sandbox)) == ["lead-1", "lead-2"]
