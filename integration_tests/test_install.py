"""The connector as users install it: the wheel, and `pip install airbyte-destination-propexo`
from a package index (PEP 503, served on 127.0.0.1) into a fresh virtualenv.

Nothing is fetched from the internet: the wheel is built with the test environment's hatchling,
and the fresh virtualenv gets the locked runtime dependencies from uv's cache (filled by
`make setup`) before pip installs the connector from the local index. PyAirbyte's
`get_destination(pip_url=...)` is in test_pyairbyte.py (it needs PyAirbyte installed).
"""

from __future__ import annotations

import hashlib
import html
import json
import os
import shutil
import subprocess
import sys
import threading
import tomllib
import zipfile
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from destination_propexo import __version__
from integration_tests.conftest import INTEGRATION, TOKEN
from propexo_sandbox import Sandbox

ROOT = Path(__file__).resolve().parent.parent
UV = ROOT / ".tools" / "bin" / "uv"
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
DISTRIBUTION = "airbyte-destination-propexo"


def build_wheel(out: Path) -> Path:
    """The wheel `pip wheel .` or `uv build` would make, built by the locked hatchling."""
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from hatchling.build import build_wheel; print(build_wheel(sys.argv[1]))",
            str(out),
        ],
        cwd=ROOT,
        capture_output=True,
        check=True,
        timeout=300,
    )
    return out / done.stdout.decode().split()[-1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_wheel(tmp_path_factory.mktemp("dist"))


class SimpleIndex:
    """A PEP 503 package index on 127.0.0.1 serving the given wheels."""

    def __init__(self, root: Path, wheels: list[Path]) -> None:
        project = root / "simple" / DISTRIBUTION
        project.mkdir(parents=True)
        links = []
        for wheel in wheels:
            shutil.copy(wheel, project / wheel.name)
            digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
            name = html.escape(wheel.name)
            links.append(f'<a href="{name}#sha256={digest}">{name}</a><br>')
        (project / "index.html").write_text(
            "<!DOCTYPE html><html><body>" + "".join(links) + "</body></html>", encoding="utf-8"
        )
        (root / "simple" / "index.html").write_text(
            f'<!DOCTYPE html><html><body><a href="{DISTRIBUTION}/">{DISTRIBUTION}</a>'
            "</body></html>",
            encoding="utf-8",
        )
        handler = partial(_QuietHandler, directory=str(root))
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/simple/"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        return None


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A fresh virtualenv where `pip install airbyte-destination-propexo` ran against the
    local index; its bin folder."""
    if not UV.exists():
        pytest.skip("no .tools/bin/uv: run make setup")
    work = tmp_path_factory.mktemp("install")
    index = SimpleIndex(work / "index", [wheel])
    venv = work / "venv"
    # Only the index below and uv's cache: no pip.conf, no find-links, no network.
    environ = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PIP_", "UV_", "VIRTUAL_ENV")) or key == "UV_CACHE_DIR"
    }
    environ |= {"PIP_CONFIG_FILE": os.devnull, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    base_python = getattr(sys, "_base_executable", sys.executable)
    try:
        subprocess.run([base_python, "-m", "venv", str(venv)], check=True, timeout=300)
        # uv.lock's runtime set from uv's cache (as the Dockerfile installs it), beside pip.
        subprocess.run(
            [
                *(str(UV), "sync", "--locked", "--offline", "--inexact", "--no-install-project"),
                *("--no-editable", "--quiet", "--python", str(venv / "bin" / "python")),
            ],
            cwd=ROOT,
            env=environ | {"UV_PROJECT_ENVIRONMENT": str(venv), "UV_PYTHON_DOWNLOADS": "never"},
            check=True,
            timeout=600,
        )
        done = subprocess.run(
            [str(venv / "bin" / "pip"), "install", "--index-url", index.url, DISTRIBUTION],
            env=environ,
            capture_output=True,
            timeout=600,
            check=False,
            cwd=work,
        )
        assert done.returncode == 0, done.stderr.decode()
        assert f"Successfully installed {DISTRIBUTION}-{__version__}" in done.stdout.decode()
        yield venv / "bin"
    finally:
        index.close()


def test_the_distribution_is_named_as_airbytes_registry_and_pyairbyte_expect() -> None:
    metadata = (ROOT / "metadata.yaml").read_text(encoding="utf-8")
    assert PROJECT["name"] == DISTRIBUTION
    assert f"packageName: {DISTRIBUTION}\n" in metadata
    assert PROJECT["scripts"] == {"destination-propexo": "destination_propexo.run:run"}
    assert PROJECT["version"] == __version__


def test_the_wheel_holds_the_package_and_its_spec_and_no_sandbox(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        dist_info = f"airbyte_destination_propexo-{__version__}.dist-info"
        metadata = archive.read(f"{dist_info}/METADATA").decode()
        entry_points = archive.read(f"{dist_info}/entry_points.txt").decode()
    assert {name.split("/")[0] for name in names} == {"destination_propexo", dist_info}
    assert "destination_propexo/spec.yaml" in names
    assert [name for name in names if "sandbox" in name] == []
    assert f"Name: {DISTRIBUTION}\n" in metadata
    assert "destination-propexo = destination_propexo.run:run" in entry_points


def test_the_installed_command_answers_spec_and_check(installed: Path, sandbox: Sandbox) -> None:
    spec = subprocess.run(
        [str(installed / "destination-propexo"), "spec"], capture_output=True, timeout=120
    )
    (message,) = [json.loads(line) for line in spec.stdout.splitlines()]
    assert message["type"] == "SPEC" and message["spec"]["connectionSpecification"]
    config = installed.parent / "config.json"
    config.write_text(
        json.dumps({"token": TOKEN, "integration_id": INTEGRATION, "api_url": sandbox.url})
    )
    check = subprocess.run(
        [str(installed / "destination-propexo"), "check", "--config", str(config)],
        capture_output=True,
        timeout=120,
    )
    statuses = [
        json.loads(line)["connectionStatus"]["status"]
        for line in check.stdout.splitlines()
        if b'"CONNECTION_STATUS"' in line
    ]
    assert statuses == ["SUCCEEDED"], check.stderr.decode()


def test_the_installed_package_is_the_wheels_and_carries_no_sandbox(installed: Path) -> None:
    probe = (
        "import importlib.metadata, importlib.util, destination_propexo; "
        f"print(importlib.metadata.version('{DISTRIBUTION}')); "
        "print(destination_propexo.__file__); "
        "print(importlib.util.find_spec('propexo_sandbox'))"
    )
    done = subprocess.run(
        [str(installed / "python"), "-c", probe],
        capture_output=True,
        check=True,
        timeout=120,
        cwd=installed.parent,
    )
    version, location, sandbox = done.stdout.decode().splitlines()
    assert version == __version__
    assert location.startswith(str(installed.parent)) and "site-packages" in location
    assert sandbox == "None"
