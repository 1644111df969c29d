"""Request counters of the sandbox, read by tests and the benchmark."""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

# One counter per served endpoint: `create` (POST), `update` (PUT, a reschedule),
# `write_status` (one job), `write_logs` (the feed), `read_back`, `integration`, `timezones`;
# `other` is every request no route matched.
ENDPOINTS = (
    "create",
    "update",
    "write_status",
    "write_logs",
    "read_back",
    "integration",
    "timezones",
    "other",
)


# The request log keeps the latest requests only, so a long benchmark stays small.
REQUEST_LOG_LIMIT = 100_000


@dataclass(frozen=True)
class LoggedRequest:
    """One API request: which endpoint, when it started and ended (Unix seconds, the wall
    clock other processes share), its status; `status` None while open or when dropped.
    `query` is the raw query string; `body` the raw body of a write (create or update; empty
    for reads), so tests can check what each PMS was sent."""

    endpoint: str
    method: str
    path: str
    started: float
    finished: float | None = None
    status: int | None = None
    query: str = ""
    body: bytes = b""


class RequestStats:
    """Counts API requests by endpoint and status, concurrency and the busiest minute, and
    logs the latest `REQUEST_LOG_LIMIT` of them with their times."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._counted = threading.Condition(self._lock)
        self._log: collections.deque[LoggedRequest] = collections.deque(maxlen=REQUEST_LOG_LIMIT)
        self._open: dict[int, LoggedRequest] = {}
        self._by_endpoint = dict.fromkeys(ENDPOINTS, 0)
        self._by_status: dict[int, int] = {}
        self._dropped = 0
        self._in_flight = 0
        self._max_in_flight = 0
        self._minute = -1
        self._minute_count = 0
        self._peak_per_minute = 0

    def begin(
        self, endpoint: str, method: str = "", path: str = "", query: str = "", body: bytes = b""
    ) -> int:
        """Count a request that starts being handled; its ticket for `end`."""
        with self._lock:
            entry = LoggedRequest(endpoint, method, path, time.time(), query=query, body=body)
            ticket = id(entry)
            self._open[ticket] = entry
            self._log.append(entry)
            self._counted.notify_all()
            self._by_endpoint[endpoint] += 1
            self._in_flight += 1
            self._max_in_flight = max(self._max_in_flight, self._in_flight)
            minute = int(self._clock() // 60)
            if minute != self._minute:
                self._minute, self._minute_count = minute, 0
            self._minute_count += 1
            self._peak_per_minute = max(self._peak_per_minute, self._minute_count)
            return ticket

    def end(self, status: int | None, ticket: int | None = None) -> None:
        """Count a request that is done; `status` is None when the connection was dropped."""
        with self._lock:
            entry = self._open.pop(ticket, None) if ticket is not None else None
            if entry is not None:
                # Entries are frozen: swap in the finished one where the open one sits.
                done = replace(entry, finished=time.time(), status=status)
                for index in range(len(self._log) - 1, -1, -1):
                    if self._log[index] is entry:
                        self._log[index] = done
                        break
            self._in_flight -= 1
            if status is None:
                self._dropped += 1
            else:
                self._by_status[status] = self._by_status.get(status, 0) + 1

    def snapshot(self) -> dict[str, int]:
        """All counters as one flat JSON-ready object."""
        with self._lock:
            return {
                **self._by_endpoint,
                "total": sum(self._by_endpoint.values()),
                "status_200": self._by_status.get(200, 0),
                "status_401": self._by_status.get(401, 0),
                "status_429": self._by_status.get(429, 0),
                "status_5xx": sum(n for code, n in self._by_status.items() if code >= 500),
                "dropped": self._dropped,
                "in_flight": self._in_flight,
                "max_in_flight": self._max_in_flight,
                "peak_per_minute": self._peak_per_minute,
            }

    def requests(self) -> list[LoggedRequest]:
        """The latest requests in the order they started."""
        with self._lock:
            return list(self._log)

    def wait_for(self, count: int, endpoint: str | None = None, timeout: float = 10.0) -> bool:
        """Wait until `count` requests (of `endpoint`, or any) have started; False on time-out."""
        deadline = time.monotonic() + timeout
        with self._counted:
            while self._started(endpoint) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._counted.wait(left)
            return True

    def _started(self, endpoint: str | None) -> int:
        # Called with the lock held.
        if endpoint is None:
            return sum(self._by_endpoint.values())
        return self._by_endpoint[endpoint]
