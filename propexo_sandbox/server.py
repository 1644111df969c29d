"""The sandbox's HTTP side: a threaded server on loopback and the `Sandbox` that owns it."""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import json
import re
import socket
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from urllib.parse import parse_qs, unquote, urlsplit

from propexo_sandbox import api
from propexo_sandbox.api import Query, Reply
from propexo_sandbox.faults import CreateFault, FaultDice, FaultPlan, FaultRule
from propexo_sandbox.ratelimit import FixedWindowLimiter
from propexo_sandbox.state import Event, Job, Store
from propexo_sandbox.stats import LoggedRequest, RequestStats

ADMIN_PREFIX = "/_sandbox/"
DEFAULT_INTEGRATION_ID = "intg-sandbox-resman"
_SEED_FIELDS = frozenset(
    {"lead_id", "utc", "integration_id", "unit_id", "notes", "lead_source_id", "created_at"}
)

_ROUTES: tuple[tuple[str, re.Pattern[str], str], ...] = (
    ("POST", re.compile(r"/v1/events/appointments/leads/(?P<slug>[a-z_]+)/?"), "create"),
    (
        "PUT",
        re.compile(r"/v1/events/appointments/leads/(?P<slug>[a-z_]+)/(?P<event_id>[^/]+)/?"),
        "update",
    ),
    ("GET", re.compile(r"/v1/timezones/?"), "timezones"),
    ("GET", re.compile(r"/v1/admin/write-status/(?P<job_id>[^/]+)/?"), "write_status"),
    ("GET", re.compile(r"/v1/admin/logs/writes/?"), "write_logs"),
    ("GET", re.compile(r"/v1/appointments/?"), "read_back"),
    ("GET", re.compile(r"/v1/admin/integrations/(?P<integration_id>[^/]+)/?"), "integration"),
)


@dataclass(frozen=True)
class _Request:
    method: str
    path: str
    query: Query
    authorization: str | None
    body: bytes


class Sandbox:
    """A local Propexo API on 127.0.0.1; `start()`/`stop()` or use it as a context manager."""

    def __init__(
        self,
        *,
        token: str = "sandbox-token",  # noqa: S107  # a fixed, well-known sandbox token
        latency: float = 0.0,
        rate_limit_per_minute: int | None = None,
        slowdown_seconds: float = 2.0,
        write_status_delay: float = 0.3,
        faults: FaultPlan = FaultPlan(),  # noqa: B008  # frozen, so one shared default is safe
        port: int = 0,
        host: str = "127.0.0.1",
        access_log: bool = False,
        minute_clock: Callable[[], float] = time.time,
    ) -> None:
        """`minute_clock` places the rate limit's minute windows (wall-clock minutes by
        default); the benchmark starts one with its run, so a run meets the 80 % slow-down."""
        if not is_loopback(host):
            raise ValueError(f"the sandbox only listens on loopback, not {host!r}")
        self._token = token
        self._latency = latency
        self._slowdown_seconds = slowdown_seconds
        self._limiter = (
            FixedWindowLimiter(rate_limit_per_minute, minute_clock)
            if rate_limit_per_minute
            else None
        )
        self._dice = FaultDice(faults)
        self._store = Store(write_status_delay)
        self._stats = RequestStats(minute_clock)
        self._host = host
        self._port = port
        self._access_log = access_log
        self._revoked = False
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> Sandbox:
        """Bind and serve in a daemon thread."""
        if self._server is not None:
            raise RuntimeError("the sandbox is already running")
        self._stopping.clear()
        self._server = _Server((self._host, self._port), self)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="propexo-sandbox",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, cut open connections and wake sleeping handlers."""
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        self._stopping.set()
        server.shutdown()
        server.close_connections()
        server.server_close()
        thread.join()
        self._server = self._thread = None

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """Base URL, e.g. `http://127.0.0.1:8765`."""
        if self._server is None:
            raise RuntimeError("the sandbox is not running")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def appointments(self) -> list[Event]:
        """Appointments as read back now: seeded and booked ones, duplicates included, in the
        order they came to exist, each at its latest successfully rescheduled time."""
        return self._store.appointments()

    def appointment(self, event_id: str) -> Event | None:
        """One appointment as read back now, or None (unknown, or its create not yet done)."""
        return self._store.appointment(event_id)

    def seed_appointment(
        self,
        *,
        lead_id: str,
        utc: str | dt.datetime,
        integration_id: str = DEFAULT_INTEGRATION_ID,
        unit_id: str | None = None,
        notes: str | None = None,
        lead_source_id: str | None = None,
        created_at: str | dt.datetime | None = None,
    ) -> str:
        """Store an existing appointment (no write job, no request counted); its event id.

        It reads back at once, like one booked before the sync, and a PUT can move it. `utc`
        is ISO 8601 with an offset (`"2030-01-02T15:00:00Z"`) or an aware `datetime`;
        `created_at` (same forms, now by default) is when Propexo made its row;
        `integration_id` must be one of the sandbox's integrations. Raises ValueError.
        """
        event = self._store.seed_appointment(
            lead_id=lead_id,
            utc=utc,
            integration_id=integration_id,
            unit_id=unit_id,
            notes=notes,
            lead_source_id=lead_source_id,
            created_at=created_at,
        )
        return str(event["id"])

    def seed_lead(self, lead_id: str, *, property_id: str) -> None:
        """Place a lead at a property: its appointments are read in that property's zone by
        the vendors that read property time (leads are at `prop-sandbox-1` unless seeded)."""
        self._store.seed_lead(lead_id, property_id)

    def set_timezones(
        self, integration_id: str, rows: Sequence[tuple[str | None, str, bool]]
    ) -> None:
        """Replace an integration's GET /v1/timezones/ rows: each (property id, or None for
        the integration-wide row; standard offset such as `-05:00`; DST observed). `()`
        leaves it none, as a PMS where no zone was ever set. Raises ValueError."""
        self._store.set_timezones(integration_id, rows)

    def data_sync(self) -> None:
        """Run Propexo's data sync: Entrata and Yardi REST appointments booked so far show."""
        self._store.data_sync()

    def timezones(self) -> list[dict[str, object]]:
        """The rows GET /v1/timezones/ serves (every integration's), as the API shows them."""
        return self._store.timezones()

    def stats(self) -> dict[str, int]:
        """Request counters: per endpoint, per notable status, concurrency and busiest minute."""
        return self._stats.snapshot()

    def requests(self) -> list[LoggedRequest]:
        """The latest API requests (admin routes excluded) in the order they started, with
        start and end times in Unix seconds: when a client sent what."""
        return self._stats.requests()

    def wait_for_requests(
        self, count: int, endpoint: str | None = None, timeout: float = 10.0
    ) -> bool:
        """Wait until `count` API requests (of `endpoint`, e.g. "create", or of any) have
        started; False when `timeout` seconds pass first."""
        return self._stats.wait_for(count, endpoint, timeout)

    def jobs(self) -> list[Job]:
        """Every write job queued so far, in queueing order; `Job.status(time.time())` is its
        write status now."""
        return self._store.jobs()

    def settle(self, timeout: float = 30.0) -> bool:
        """Wait until every job that will finish has finished (jobs of `lead-slow` leads never
        do), so appointments read back are final; False when `timeout` seconds pass first."""
        deadline = time.monotonic() + timeout
        while True:
            ends = [job.finishes_at for job in self._store.jobs() if job.finishes_at is not None]
            left = max(ends, default=0.0) - self._store.clock()
            if left <= 0:
                return True
            if time.monotonic() + left > deadline:
                return False
            time.sleep(left + 0.01)

    def set_faults(self, plan: FaultPlan) -> None:
        """Replace the fault plan; its script and seeded draws start afresh."""
        self._dice = FaultDice(plan)

    def revoke_token(self) -> None:
        """From now on every API request is refused with 401."""
        self._revoked = True

    def restore_token(self) -> None:
        """Accept the token again (the user fixed it); a plan's revocation does not repeat."""
        self._revoked = False

    def _pause(self, seconds: float) -> None:
        # Wakes early on stop() so a hanging answer never holds up shutdown.
        if seconds > 0:
            self._stopping.wait(seconds)

    def _answer(self, endpoint: str, params: dict[str, str], request: _Request) -> Reply:
        dice = self._dice
        rule = dice.rule_for(endpoint)
        if dice.revokes_at_this_request():
            self._revoked = True
        if endpoint == "create" and dice.revokes_at_this_create():
            self._revoked = True
        if endpoint == "update" and dice.revokes_at_this_update():
            self._revoked = True
        if self._revoked or request.authorization != f"Bearer {self._token}":
            message = "Missing or invalid bearer token"
            if dice.plan.echo_authorization:
                message += f" (got Authorization: {request.authorization})"
            refused = api.error(401, "unauthorized", message)
            return replace(refused, delay=self._latency)
        decision = self._limiter.take() if self._limiter is not None else None
        if decision is not None and decision.refused:
            reply = api.rate_limited(dice.plan.retry_after)
        elif rule is not None:
            reply = self._planned_reply(endpoint, params, request, dice, rule)
        else:
            reply = self._endpoint_reply(endpoint, params, request, dice)
        if decision is None:
            return replace(reply, delay=reply.delay + self._latency)
        slowdown = self._slowdown_seconds if decision.slow else 0.0
        headers = {**reply.headers, **decision.headers()}
        return replace(reply, delay=reply.delay + self._latency + slowdown, headers=headers)

    def _planned_reply(
        self,
        endpoint: str,
        params: dict[str, str],
        request: _Request,
        dice: FaultDice,
        rule: FaultRule,
    ) -> Reply:
        """The answer a rule plans: a write meets the rule's fault as it would a drawn one; a
        read is refused, or answered after `hang_seconds`."""
        plan = replace(dice.plan, retry_after=rule.retry_after)
        if endpoint in ("create", "update"):
            return self._write_reply(endpoint, params, request, plan, rule.fault)
        refused = api.refusal(rule.fault, rule.retry_after)
        if refused is not None:
            return refused
        reply = self._endpoint_reply(endpoint, params, request, dice)
        if rule.fault is CreateFault.HANG:
            return replace(reply, delay=reply.delay + plan.hang_seconds)
        return reply

    def _write_reply(
        self,
        endpoint: str,
        params: dict[str, str],
        request: _Request,
        plan: FaultPlan,
        fault: CreateFault,
    ) -> Reply:
        unknown = api.no_vendor(params["slug"])
        if unknown is not None:
            return unknown
        if endpoint == "create":
            return api.create_appointment(
                self._store, params["slug"], fault, plan, request.query, request.body
            )
        return api.update_appointment(
            self._store,
            params["slug"],
            fault,
            plan,
            params["event_id"],
            request.query,
            request.body,
        )

    def _endpoint_reply(
        self, endpoint: str, params: dict[str, str], request: _Request, dice: FaultDice
    ) -> Reply:
        store, plan = self._store, dice.plan
        if endpoint == "create":
            return self._write_reply(endpoint, params, request, plan, dice.create())
        if endpoint == "update":
            return self._write_reply(endpoint, params, request, plan, dice.update())
        if endpoint == "timezones":
            return api.timezones(store, request.query)
        if endpoint == "write_status":
            if dice.status_503():
                return api.unavailable(plan.retry_after)
            garbled = dice.status_garbled()
            if garbled is not None:
                return api.garbled_status(garbled)
            return api.write_status(store, params["job_id"])
        if endpoint == "read_back":
            if dice.read_back_503():
                return api.unavailable(plan.retry_after)
            return api.read_back(store, request.query)
        if endpoint == "write_logs":
            return api.write_logs(store, request.query)
        if endpoint == "integration":
            return api.integration(store, params["integration_id"])
        return api.error(404, "not_found", f"No route for {request.method} {request.path}")

    def _admin(self, request: _Request) -> Reply:
        action = (request.method, request.path.removeprefix(ADMIN_PREFIX).rstrip("/"))
        if action == ("GET", "appointments"):
            return Reply(200, {"appointments": self.appointments()})
        if action == ("POST", "appointments"):
            return self._admin_seed(request.body)
        if action == ("GET", "stats"):
            return Reply(200, dict(self.stats()))
        if action == ("GET", "faults"):
            return Reply(200, {"faults": self._dice.plan.to_json()})
        if action == ("POST", "faults"):
            try:
                data = json.loads(request.body or b"{}")
                plan = FaultPlan.from_json(data if isinstance(data, dict) else {})
            except (ValueError, TypeError) as exc:
                return api.error(400, "invalid_request", f"Invalid fault plan: {exc}")
            self.set_faults(plan)
            return Reply(200, {"faults": plan.to_json()})
        if action == ("POST", "data-sync"):
            self.data_sync()
            return Reply(200, {"synced": True})
        if action == ("POST", "leads"):
            try:
                data = json.loads(request.body or b"null")
                self.seed_lead(str(data["lead_id"]), property_id=str(data["property_id"]))
            except (ValueError, TypeError, KeyError):
                return api.error(400, "invalid_request", "Expected {lead_id, property_id}")
            return Reply(200, {"seeded": True})
        if action == ("POST", "revoke"):
            self.revoke_token()
            return Reply(200, {"revoked": True})
        return api.error(
            404, "not_found", f"No sandbox admin route for {request.method} {request.path}"
        )

    def _admin_seed(self, raw_body: bytes) -> Reply:
        # `POST /_sandbox/appointments` with `seed_appointment`'s keyword arguments as JSON.
        try:
            data = json.loads(raw_body or b"null")
        except ValueError:
            return api.error(400, "invalid_request", "Request body is not valid JSON")
        if not isinstance(data, dict):
            return api.error(400, "invalid_request", "Expected a JSON object")
        unknown = sorted(set(data) - _SEED_FIELDS)
        missing = sorted({"lead_id", "utc"} - set(data))
        if unknown or missing:
            message = f"Unknown fields {unknown}, missing fields {missing}"
            return api.error(400, "invalid_request", message)
        try:
            event_id = self.seed_appointment(**data)
        except ValueError as exc:
            return api.error(400, "invalid_request", f"Invalid appointment: {exc}")
        return Reply(200, {"id": event_id, "appointment": self.appointment(event_id)})


def is_loopback(host: str) -> bool:
    """Whether `host` is `localhost` or an IPv4 loopback address."""
    if host == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return isinstance(address, ipaddress.IPv4Address) and address.is_loopback


def _route(method: str, path: str) -> tuple[str, dict[str, str]]:
    for route_method, pattern, endpoint in _ROUTES:
        match = pattern.fullmatch(path)
        if match is not None and method == route_method:
            return endpoint, {name: unquote(value) for name, value in match.groupdict().items()}
    return "other", {}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # The benchmark opens many connections at once; the default backlog of 5 would refuse some.
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def process_request(self, request: socket.socket, client_address: object) -> None:  # type: ignore[override]
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: socket.socket) -> None:  # type: ignore[override]
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: object, client_address: object) -> None:
        # A client that went away mid-request (a killed sync, a cut connection) is not an
        # error of the sandbox; anything else is printed as usual.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)  # type: ignore[arg-type]

    def close_connections(self) -> None:
        """Cut idle keep-alive connections, which would otherwise outlive the server."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):  # already closed by its client
                connection.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as clients with a connection pool expect
    # Headers and body leave in two writes; with Nagle on, the body waits for the client's
    # delayed ACK (~40 ms on Linux), which would make every answer 40 ms slower than asked.
    disable_nagle_algorithm = True
    server: _Server

    def do_GET(self) -> None:  # the name http.server dispatches to
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def log_message(self, format: str, *args: object) -> None:
        if self.server.sandbox._access_log:
            super().log_message(format, *args)

    def _serve(self) -> None:
        sandbox = self.server.sandbox
        split = urlsplit(self.path)
        request = _Request(
            method=self.command,
            path=split.path,
            query=parse_qs(split.query),
            authorization=self.headers.get("Authorization"),
            body=self.rfile.read(int(self.headers.get("Content-Length") or 0)),
        )
        if split.path.startswith(ADMIN_PREFIX):
            self._send(sandbox._admin(request))
            return
        endpoint, params = _route(request.method, request.path)
        # Write bodies are logged (they are small), so tests can see what each PMS was sent.
        body = request.body if endpoint in ("create", "update") else b""
        ticket = sandbox._stats.begin(endpoint, request.method, request.path, split.query, body)
        status: int | None = None
        try:
            reply = sandbox._answer(endpoint, params, request)
            sandbox._pause(reply.delay)
            status = None if reply.drop else reply.status
        finally:
            # Counted before the answer leaves, so a client reading stats right after sees it.
            sandbox._stats.end(status, ticket)
        if reply.drop:
            self._drop()
        else:
            self._send(reply)

    def _send(self, reply: Reply) -> None:
        if reply.raw is not None:
            payload = reply.raw
        else:
            payload = json.dumps(reply.body).encode() if reply.body is not None else b""
        try:
            self.send_response(reply.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            # A client that timed out before a hanging answer: nobody is left to tell.
            self.close_connection = True

    def _drop(self) -> None:
        # Close without a single byte of answer, so the client sees a connection error.
        self.close_connection = True
        with contextlib.suppress(OSError):  # the client already went away
            self.connection.shutdown(socket.SHUT_RDWR)
