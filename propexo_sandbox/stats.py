"""Request counters of the sandbox, read by tests and the benchmark."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

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


class RequestStats:
    """Counts API requests by endpoint and status, concurrency and the busiest minute."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._by_endpoint = dict.fromkeys(ENDPOINTS, 0)
        self._by_status: dict[int, int] = {}
        self._dropped = 0
        self._in_flight = 0
        self._max_in_flight = 0
        self._minute = -1
        self._minute_count = 0
        self._peak_per_minute = 0

    def begin(self, endpoint: str) -> None:
        """Count a request that starts being handled."""
        with self._lock:
            self._by_endpoint[endpoint] += 1
            self._in_flight += 1
            self._max_in_flight = max(self._max_in_flight, self._in_flight)
            minute = int(self._clock() // 60)
            if minute != self._minute:
                self._minute, self._minute_count = minute, 0
            self._minute_count += 1
            self._peak_per_minute = max(self._peak_per_minute, self._minute_count)

    def end(self, status: int | None) -> None:
        """Count a request that is done; `status` is None when the connection was dropped."""
        with self._lock:
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
