"""The token goes only into the Authorization header of a verified connection to the API host.

Never into logs, traces, exception text or the config's repr; never to another host by way
of a redirect; never over a TLS connection whose certificate failed verification.
"""

from __future__ import annotations

import datetime as dt
import json
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from destination_propexo.config import load_config
from destination_propexo.errors import ConfigError, PropexoError, RequestFailure
from destination_propexo.propexo.client import PropexoClient
from destination_propexo.propexo.ratelimit import RateBudget
from destination_propexo.stop import Stop
from integration_tests.conftest import Cli, record, stream_state, tour
from propexo_sandbox import Sandbox

SECRET = "pxo_live_Sx81Kd0QmZr5TvB2wN6c"


class _Recorder(ThreadingHTTPServer):
    """A local server that notes every request it receives and answers with `reply`."""

    daemon_threads = True

    def __init__(self, reply: tuple[int, dict[str, str]]) -> None:
        self.reply = reply
        self.seen: list[tuple[str, str | None]] = []
        super().__init__(("127.0.0.1", 0), _RecorderHandler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.shutdown()
        self.server_close()


class _RecorderHandler(BaseHTTPRequestHandler):
    server: _Recorder

    def _answer(self) -> None:
        self.server.seen.append((self.path, self.headers.get("Authorization")))
        status, headers = self.server.reply
        body = b'{"error": {"code": "moved", "message": "see elsewhere"}}'
        self.send_response(status)
        for name, value in {**headers, "Content-Length": str(len(body))}.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, format: str, *args: object) -> None:
        return None


@pytest.fixture
def redirecting() -> Iterator[tuple[_Recorder, _Recorder]]:
    """A server answering 307 to another host (localhost vs 127.0.0.1), and that host."""
    elsewhere = _Recorder((200, {"Content-Type": "application/json"}))
    port = elsewhere.server_address[1]
    location = f"http://localhost:{port}/v1/admin/integrations/intg-sandbox-resman/"
    mover = _Recorder((307, {"Location": location, "Content-Type": "application/json"}))
    yield mover, elsewhere
    mover.close()
    elsewhere.close()


def test_a_redirect_to_another_host_is_not_followed(
    tmp_path: Path, redirecting: tuple[_Recorder, _Recorder]
) -> None:
    mover, elsewhere = redirecting
    with Sandbox(token=SECRET) as sandbox:
        cli = Cli(tmp_path, sandbox)
        config = cli.config(token=SECRET, api_url=f"http://127.0.0.1:{mover.server_address[1]}")
        check = cli.run("check", config=config)
        write = cli.write([tour("lead-1"), stream_state("tours", 1)], config=config)
    (status,) = [m["connectionStatus"] for m in check.of_type("CONNECTION_STATUS")]
    assert status["status"] == "FAILED" and "HTTP 307" in status["message"]
    # The write's first request reads the integration's vendor: a redirect says the request
    # went to the wrong place, the configuration's fault, and it is not followed.
    assert write.outcomes == []
    (trace,) = write.traces
    assert (
        trace["error"]["failure_type"] == "config_error" and "HTTP 307" in trace["error"]["message"]
    )
    assert [auth for _, auth in mover.seen] == [f"Bearer {SECRET}", f"Bearer {SECRET}"]
    assert elsewhere.seen == []
    for result in (check, write):
        assert SECRET not in result.stdout + result.stderr


def _self_signed(directory: Path) -> ssl.SSLContext:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    return context


def test_an_unverifiable_certificate_stops_before_the_token_is_sent(tmp_path: Path) -> None:
    server = _Recorder((200, {"Content-Type": "application/json"}))
    context = _self_signed(tmp_path)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    try:
        with Sandbox(token=SECRET) as sandbox:
            cli = Cli(tmp_path, sandbox)
            config = cli.config(
                token=SECRET, api_url=f"https://127.0.0.1:{server.server_address[1]}"
            )
            check = cli.run("check", config=config)
            write = cli.write([tour("lead-1"), stream_state("tours", 1)], config=config)
    finally:
        server.close()
    (status,) = [m["connectionStatus"] for m in check.of_type("CONNECTION_STATUS")]
    assert status["status"] == "FAILED"
    assert "TLS certificate of 127.0.0.1 could not be verified" in status["message"]
    assert write.returncode == 1
    (trace,) = write.traces
    assert trace["error"]["failure_type"] == "config_error"
    assert "could not be verified" in trace["error"]["message"]
    assert write.outcomes == [] and write.states == []
    assert server.seen == [], "a request was sent over an unverified connection"
    for result in (check, write):
        assert SECRET not in result.stdout + result.stderr


def test_the_config_never_shows_the_token() -> None:
    config = load_config(
        {"token": SECRET, "integration_id": "intg-1", "api_url": "https://api.propexo.com"}
    )
    for text in (repr(config), str(config), config.model_dump_json(), repr(config.model_dump())):
        assert SECRET not in text
    with pytest.raises(ConfigError) as invalid:
        load_config({"token": SECRET, "integration_id": " ", "api_url": "http://example.com"})
    assert SECRET not in str(invalid.value) and SECRET not in repr(invalid.value)


def test_failures_raised_by_the_client_never_hold_the_token() -> None:
    failures: list[PropexoError] = []
    with Sandbox(token="another-token") as sandbox:
        for token in (SECRET, f"{SECRET}\n"):  # refused; and a header requests cannot send
            client = PropexoClient(sandbox.url, token, RateBudget(6000), stop=Stop())
            with pytest.raises(PropexoError) as raised:
                client.get_integration("intg-sandbox-resman")
            failures.append(raised.value)
            client.close()
    with Sandbox(token=SECRET) as sandbox:
        client = PropexoClient(sandbox.url, SECRET, RateBudget(6000), stop=Stop(), timeout=1)
        sandbox.stop()  # nothing listens any more
        with pytest.raises(RequestFailure) as unreachable:
            client.create_appointment({"lead_id": "x"})
        failures.append(unreachable.value)
    for failure in failures:
        assert SECRET not in str(failure) and SECRET not in repr(failure)
        # The transport exception (which holds the request) is never chained.
        assert failure.__cause__ is None
        assert failure.__context__ is None or failure.__suppress_context__


class _EchoingRefusal(BaseHTTPRequestHandler):
    """A Propexo stand-in that refuses every request, echoing its Authorization header."""

    def _refuse(self) -> None:
        body = (
            '{"error": {"message": "invalid token in header '
            + json.dumps(self.headers.get("Authorization", ""))[1:-1]
            + '"}}'
        ).encode()
        self.send_response(401)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _refuse

    def log_message(self, format: str, *args: object) -> None:
        return None


@pytest.mark.parametrize(
    "given", [" pxo-spaced-Tk93hQ ", "pxo-spaced-Tk93hQ\n", "\tpxo-spaced-Tk93hQ"]
)
def test_a_token_given_with_white_space_is_masked_in_every_form_it_is_sent(
    tmp_path: Path, given: str
) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _EchoingRefusal)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        cli = Cli(tmp_path, Sandbox())
        config = {"token": given, "integration_id": "intg-1", "api_url": url}
        checked = cli.run("check", config=config)
        # The outputs beside the sync (outcomes, its summary, rejected records) mask it too.
        outputs = tmp_path / "outputs"
        outputs.mkdir()
        written = cli.write(
            [tour("lead-1"), stream_state("tours", 1)],
            config={
                **config,
                "outcomes_path": str(outputs / "outcomes.jsonl"),
                "rejected_records_path": str(outputs / "rejected.jsonl"),
            },
        )
    finally:
        server.shutdown()
        server.server_close()
    status = checked.of_type("CONNECTION_STATUS")[0]["connectionStatus"]
    assert status["status"] == "FAILED" and "invalid token" in status["message"]
    assert written.traces and written.traces[0]["error"]["failure_type"] == "config_error"
    for result in (checked, written):
        assert "pxo-spaced-Tk93hQ" not in result.stdout
    kept = {path.name: path.read_text() for path in outputs.iterdir()}
    assert "outcomes.summaries.jsonl" in kept
    assert [name for name, text in kept.items() if "pxo-spaced-Tk93hQ" in text] == []


# A token holding a quote and a backslash: JSON and Python's repr escape each differently.
QUOTED_TOKEN = "pxoLive\"Q1\\Kd0QmZr5'x"


@pytest.mark.parametrize("dry_run", [False, True])
def test_a_token_quoted_in_a_reason_or_a_dry_run_line_is_masked(
    tmp_path: Path, dry_run: bool
) -> None:
    with Sandbox(token=QUOTED_TOKEN) as sandbox:
        cli = Cli(tmp_path, sandbox)
        rows = [
            # A reason quotes the bad value (repr), and the columns that name no field.
            tour("lead-1", time=QUOTED_TOKEN),
            record(**{"prospect": "lead-2", QUOTED_TOKEN: 1, "appointment_datetime": "x"}),
            # A dry run logs the request it would send, ids included.
            tour(QUOTED_TOKEN),
            tour("lead-4", unit_id=f"u{QUOTED_TOKEN}"),
            # A reason cuts a long value: the token's head is quoted without its tail.
            tour("lead-5", time="x" * 40 + QUOTED_TOKEN),
            stream_state("tours", 1),
        ]
        outputs = tmp_path / "outputs"
        outputs.mkdir()
        result = cli.write(
            rows,
            config=cli.config(
                token=QUOTED_TOKEN,
                dry_run=dry_run,
                outcomes_path=str(outputs / "outcomes.jsonl"),
                rejected_records_path=str(outputs / "rejected.jsonl"),
            ),
        )
    assert result.returncode == 0, result.traces
    assert len(result.outcomes) == 5
    written = [result.stdout, *(path.read_text() for path in outputs.iterdir())]
    # No form of the token, however escaped, leaves: neither side of its quote and backslash.
    assert [text for text in written if "pxoLive" in text] == []
