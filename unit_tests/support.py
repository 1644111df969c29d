"""Test doubles for the connector's seams: a fake clock and a scripted HTTP transport.

Neither replaces any of the connector's own code: the clock stands for time, and the
transport for Propexo on the other side of `requests` (the client's `adapter` seam).
"""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict


class FakeClock:
    """Time that moves only when someone waits; a wait on a set event returns at once."""

    def __init__(self, start: float = 1000.0) -> None:
        self.time = start
        self.waits: list[float] = []
        self._lock = threading.Lock()

    def now(self) -> float:
        return self.time

    def wait(self, event: threading.Event, seconds: float) -> bool:
        if event.is_set():
            return True
        with self._lock:
            self.waits.append(seconds)
            self.time += max(0.0, seconds)
        return event.is_set()


@dataclass
class Answer:
    """One scripted HTTP answer: a status and a JSON body (or raw text), or an exception."""

    status: int = 200
    body: Any = None
    text: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    raises: BaseException | None = None


def ok(body: Any) -> Answer:
    return Answer(200, body)


def job(job_id: str) -> Answer:
    return ok({"meta": {"job_id": job_id}, "result": {}})


def status(write_status: str, *errors: str, record_id: str | None = None) -> Answer:
    return ok(
        {"write_status": write_status, "errors": list(errors), "created_record_id": record_id}
    )


def appointments(*events: Mapping[str, Any]) -> Answer:
    return ok({"meta": {"hasMore": False}, "results": list(events)})


def event(event_id: str, lead_id: str, utc: str) -> dict[str, Any]:
    return {"id": event_id, "associated_lead_ids": [lead_id], "appointment_datetime": utc}


_log_ids = itertools.count(1)


def log_entry(
    job_id: str,
    status: str = "SUCCESS",
    error: str | None = None,
    *,
    created_at: str | None = None,
    integration_id: str = "intg-1",
) -> dict[str, Any]:
    """One entry of the write-logs feed, as the reference documents its fields."""
    number = next(_log_ids)
    return {
        "id": f"wlog-{number}",
        "created_at": created_at,
        "job_id": job_id,
        "job_log_id": f"jlog-{number}",
        "status": status,
        "integration_id": integration_id,
        "job_type": "CREATE_LEAD_APPOINTMENT",
        "parameters": {},
        "error": error,
        "name": "Sandbox ResMan",
        "vendor": "RESMAN",
    }


def logs(*entries: Mapping[str, Any]) -> Answer:
    return ok({"results": {"logs": list(entries)}})


class WriteLogFeed:
    """A stand-in for the write-logs feed (a route for `ScriptedTransport`): finished jobs,
    newest first, paged by `offset` and `limit`; records the query of each read."""

    def __init__(self) -> None:
        self.entries: list[dict[str, Any]] = []
        self.queries: list[dict[str, str]] = []

    def finish(
        self, job_id: str, status: str = "SUCCESS", error: str | None = None, **extra: Any
    ) -> None:
        """The job finished now: its entry goes on top."""
        self.entries.insert(0, log_entry(job_id, status, error, **extra))

    @property
    def offsets(self) -> list[int]:
        return [int(query.get("offset", "0")) for query in self.queries]

    def __call__(self, request: requests.PreparedRequest) -> Answer:
        query = {k: v[0] for k, v in parse_qs(urlsplit(request.url or "").query).items()}
        self.queries.append(query)
        offset, limit = int(query.get("offset", "0")), int(query.get("limit", "100"))
        integration = query.get("integration_id")
        shown = [e for e in self.entries if integration in (None, e["integration_id"])]
        return logs(*shown[offset : offset + limit])


Route = Callable[[requests.PreparedRequest], Answer]


class ScriptedTransport(BaseAdapter):
    """Answers each request from a script per endpoint; records what was sent.

    `script[endpoint]` is a list of answers served in order (the last one repeats) or a
    function of the request. Endpoints: create, update, write_status, write_logs, read_back,
    integration.
    """

    def __init__(self, **script: list[Answer] | Route) -> None:
        super().__init__()
        self.script = script
        self.sent: list[tuple[str, requests.PreparedRequest]] = []
        self._lock = threading.Lock()

    def count(self, endpoint: str) -> int:
        return sum(1 for name, _ in self.sent if name == endpoint)

    def send(  # type: ignore[override]
        self, request: requests.PreparedRequest, **kwargs: Any
    ) -> requests.Response:
        endpoint = _endpoint(request)
        with self._lock:
            self.sent.append((endpoint, request))
            entry = self.script.get(endpoint)
            if entry is None:
                raise AssertionError(f"no answer scripted for {endpoint}: {request.url}")
            if not callable(entry):
                answer = entry.pop(0) if len(entry) > 1 else entry[0]
        if callable(entry):
            # Outside the lock: a route may hold its answer back (a slow Propexo) while
            # other requests are answered.
            answer = entry(request)
        if answer.raises is not None:
            raise answer.raises
        response = requests.Response()
        response.status_code = answer.status
        response.headers = CaseInsensitiveDict(answer.headers)
        text = answer.text if answer.text is not None else json.dumps(answer.body)
        response._content = text.encode()
        response.url = request.url or ""
        response.request = request
        return response

    def close(self) -> None:
        return None


def _endpoint(request: requests.PreparedRequest) -> str:
    path = (request.path_url or "").split("?")[0]
    if request.method == "POST" and path.startswith("/v1/events/appointments/leads/resman/"):
        return "create"
    if request.method == "PUT" and path.startswith("/v1/events/appointments/leads/resman/"):
        return "update"
    if path.startswith("/v1/admin/write-status/"):
        return "write_status"
    if path.startswith("/v1/admin/logs/writes"):
        return "write_logs"
    if path.startswith("/v1/appointments/"):
        return "read_back"
    if path.startswith("/v1/admin/integrations/"):
        return "integration"
    return f"{request.method} {path}"
