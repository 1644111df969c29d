"""Propexo's request budget: a fixed window per wall-clock minute."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

# Propexo slows answers down once a minute's budget is 80 % spent.
SLOWDOWN_SHARE = 0.8


@dataclass(frozen=True)
class WindowDecision:
    """How one request fits the current minute's budget."""

    limit: int
    remaining: int
    slow: bool
    refused: bool

    def headers(self) -> dict[str, str]:
        """The rate-limit headers every answer carries."""
        return {"x-ratelimit-limit": str(self.limit), "x-ratelimit-remaining": str(self.remaining)}


class FixedWindowLimiter:
    """Counts requests per wall-clock minute (`int(time // 60)`), refused ones included."""

    def __init__(self, limit_per_minute: int, clock: Callable[[], float] = time.time) -> None:
        if limit_per_minute < 1:
            raise ValueError("limit_per_minute must be at least 1")
        self.limit = limit_per_minute
        self._clock = clock
        self._lock = threading.Lock()
        self._minute = -1
        self._count = 0

    def take(self) -> WindowDecision:
        """Count one request and say whether it is slowed down or refused."""
        with self._lock:
            minute = int(self._clock() // 60)
            if minute != self._minute:
                self._minute, self._count = minute, 0
            self._count += 1
            count = self._count
        refused = count > self.limit
        return WindowDecision(
            limit=self.limit,
            remaining=max(0, self.limit - count),
            slow=not refused and count > SLOWDOWN_SHARE * self.limit,
            refused=refused,
        )
