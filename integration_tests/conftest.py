"""Integration fixtures: a real sandbox on 127.0.0.1 and the real CLI.

The CLI runs in-process (`run.main` with its own stdin and stdout) unless a test asks for
a real subprocess (`subprocess=True`): the same code path from argument parsing to the
last message, without paying for a new interpreter and the CDK's import on every run. A
few tests keep real subprocesses, for what only a process shows (exit, signals, stderr).
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from destination_propexo import run as cli_main
from destination_propexo.airbyte.protocol import Emitter
from integration_tests.object_storage import S3Server
from propexo_sandbox import Sandbox

FIXTURES = Path(__file__).parent / "fixtures"
TOKEN = "sandbox-token"
INTEGRATION = "intg-sandbox-resman"


@dataclass
class CliResult:
    returncode: int
    messages: list[dict[str, Any]]
    stdout: str
    stderr: str
    extra: dict[str, Any] = field(default_factory=dict)

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [m for m in self.messages if m["type"] == kind]

    @property
    def states(self) -> list[dict[str, Any]]:
        return [m["state"] for m in self.of_type("STATE")]

    @property
    def outcomes(self) -> list[dict[str, Any]]:
        prefix = "record outcome: "
        return [
            json.loads(m["log"]["message"][len(prefix) :])
            for m in self.of_type("LOG")
            if m["log"]["message"].startswith(prefix)
        ]

    @property
    def traces(self) -> list[dict[str, Any]]:
        return [m["trace"] for m in self.of_type("TRACE")]

    def log_containing(self, text: str) -> list[str]:
        return [m["log"]["message"] for m in self.of_type("LOG") if text in m["log"]["message"]]


def catalog(*streams: tuple[str, str]) -> dict[str, Any]:
    """A configured catalog of (stream name, destination sync mode) pairs."""
    return {
        "streams": [
            {
                "stream": {
                    "name": name,
                    "json_schema": {},
                    "supported_sync_modes": ["full_refresh"],
                },
                "sync_mode": "full_refresh",
                "destination_sync_mode": mode,
            }
            for name, mode in streams
        ]
    }


def record(stream: str = "tours", **data: Any) -> dict[str, Any]:
    return {"type": "RECORD", "record": {"stream": stream, "data": data, "emitted_at": 0}}


def stream_state(stream: str, cursor: Any) -> dict[str, Any]:
    return {
        "type": "STATE",
        "state": {
            "type": "STREAM",
            "stream": {"stream_descriptor": {"name": stream}, "stream_state": {"cursor": cursor}},
        },
    }


def tour(lead: str, date: str = "2024-07-20", time: str = "14:00", **extra: Any) -> dict[str, Any]:
    return record(
        lead_id=lead,
        lead_source_id="src-web",
        appointment_date=date,
        appointment_time=time,
        **extra,
    )


def jsonl(messages: Sequence[dict[str, Any]]) -> bytes:
    return b"".join(json.dumps(m).encode() + b"\n" for m in messages)


class Cli:
    """Runs `destination-propexo` exactly as Airbyte does: files for config and catalog."""

    def __init__(self, tmp: Path, sandbox: Sandbox) -> None:
        self.tmp = tmp
        self.sandbox = sandbox

    def config(self, **overrides: Any) -> dict[str, Any]:
        return {
            "token": TOKEN,
            "integration_id": INTEGRATION,
            "api_url": self.sandbox.url,
            "requests_per_minute": 6000,
            "write_status_timeout_seconds": 10,
            **overrides,
        }

    def run(
        self,
        command: str,
        *,
        config: dict[str, Any] | None = None,
        catalog_: dict[str, Any] | None = None,
        stdin: bytes = b"",
        timeout: float = 120,
        subprocess: bool = False,
    ) -> CliResult:
        args = [command]
        if command != "spec":
            path = self.tmp / "config.json"
            path.write_text(json.dumps(config if config is not None else self.config()))
            args += ["--config", str(path)]
        if command == "write":
            path = self.tmp / "catalog.json"
            path.write_text(json.dumps(catalog_ or catalog(("tours", "append"))))
            args += ["--catalog", str(path)]
        if subprocess:
            return _run_process(args, stdin, timeout)
        out = io.BytesIO()
        returncode = cli_main.main(args, emitter=Emitter(out), stdin=io.BytesIO(stdin))
        stdout = out.getvalue().decode()
        messages = [json.loads(line) for line in stdout.splitlines()]
        return CliResult(returncode, messages, stdout, "")

    def write(self, messages: Sequence[dict[str, Any]] | bytes, **kwargs: Any) -> CliResult:
        stdin = messages if isinstance(messages, bytes) else jsonl(messages)
        return self.run("write", stdin=stdin, **kwargs)


def _run_process(args: list[str], stdin: bytes, timeout: float) -> CliResult:
    done = subprocess.run(
        [sys.executable, "-m", "destination_propexo.run", *args],
        input=stdin,
        capture_output=True,
        timeout=timeout,
        check=False,
    )
    stdout = done.stdout.decode()
    messages = [json.loads(line) for line in stdout.splitlines()]
    return CliResult(done.returncode, messages, stdout, done.stderr.decode())


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(write_status_delay=0.1) as server:
        yield server


@pytest.fixture
def cli(tmp_path: Path, sandbox: Sandbox) -> Cli:
    return Cli(tmp_path, sandbox)


def booked_slots(sandbox: Sandbox) -> list[tuple[str, str]]:
    """(lead id, UTC appointment datetime) of every appointment the sandbox holds."""
    return [
        (appointment["associated_lead_ids"][0], appointment["appointment_datetime"])
        for appointment in sandbox.appointments()
    ]


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    server = S3Server()
    yield server
    server.stop()


@pytest.fixture
def s3(s3_server: S3Server) -> Iterator[S3Server]:
    """moto's S3 on 127.0.0.1 with an empty bucket; emptied again after the test."""
    s3_server.create_bucket()
    yield s3_server
    s3_server.reset()
