"""Test doubles for the connector's seams: a fake clock and a scripted HTTP transport.

Neither replaces any of the connector's own code: the clock stands for time, and the
transport for Propexo on the other side of `requests` (the client's `adapter` seam).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

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


Route = Callable[[requests.PreparedRequest], Answer]


class ScriptedTransport(BaseAdapter):
    """Answers each request from a script per endpoint; records what was sent.

    `script[endpoint]` is a list of answers served in order (the last one repeats) or a
    function of the request. Endpoints: create, update, write_status, read_back, integration.
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
            if callable(entry):
                answer = entry(request)
            else:
                answer = entry.pop(0) if len(entry) > 1 else entry[0]
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
    if path.startswith("/v1/appointments/"):
        return "read_back"
    if path.startswith("/v1/admin/integrations/"):
        return "integration"
    return f"{request.method} {path}"
