"""The fault plan: which sandbox answers go wrong, drawn per request from a seeded generator."""

from __future__ import annotations

import dataclasses
import random
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum


class CreateFault(StrEnum):
    """What happens to one write request: a create, or a reschedule (PUT) alike.

    For a reschedule, "created" means "the update job was queued" and `job_failure` means
    the update job ends FAILURE, leaving the appointment where it was.
    """

    OK = "ok"
    RATE_429 = "429"
    RATE_503 = "503"
    RATE_500 = "500"
    DROP = "drop"
    CREATED_THEN_500 = "created_then_500"
    CREATED_THEN_HANG = "created_then_hang"
    CREATED_THEN_DROP = "created_then_drop"
    JOB_FAILURE = "job_failure"


# Order of the cumulative draw; fixed so that a seed always yields the same sequence.
_CREATE_RATES: tuple[tuple[str, CreateFault], ...] = (
    ("rate_429", CreateFault.RATE_429),
    ("rate_503", CreateFault.RATE_503),
    ("rate_500", CreateFault.RATE_500),
    ("rate_drop", CreateFault.DROP),
    ("rate_created_then_500", CreateFault.CREATED_THEN_500),
    ("rate_created_then_hang", CreateFault.CREATED_THEN_HANG),
    ("rate_created_then_drop", CreateFault.CREATED_THEN_DROP),
    ("rate_job_failure", CreateFault.JOB_FAILURE),
)


@dataclass(frozen=True)
class FaultPlan:
    """Fault rates (0..1) per endpoint; `create_script` fixes the first create answers in order.

    The `rate_*` write faults apply to creates and reschedules alike, each drawn from its own
    seeded stream (so reschedules never shift the creates' sequence); `update_script` fixes
    the first reschedule answers in order, as `create_script` does for creates.

    `revoke_after_creates` revokes the token once that many creates have been answered, so
    a test can refuse the token in the middle of a sync at an exact point;
    `revoke_after_updates` does the same counting reschedules.
    """

    rate_429: float = 0.0
    rate_503: float = 0.0
    rate_500: float = 0.0
    rate_drop: float = 0.0
    rate_created_then_500: float = 0.0
    rate_created_then_hang: float = 0.0
    rate_created_then_drop: float = 0.0
    rate_job_failure: float = 0.0
    seed: int = 0
    retry_after: float | None = None
    hang_seconds: float = 30.0
    read_back_503_rate: float = 0.0
    status_503_rate: float = 0.0
    status_garbled_rate: float = 0.0
    create_script: tuple[str, ...] = ()
    revoke_after_creates: int | None = None
    update_script: tuple[str, ...] = ()
    revoke_after_updates: int | None = None

    def __post_init__(self) -> None:
        # A JSON list arrives as a list; keep the plan hashable and immutable.
        object.__setattr__(self, "create_script", tuple(self.create_script))
        object.__setattr__(self, "update_script", tuple(self.update_script))
        rates = [name for name, _ in _CREATE_RATES] + [
            "read_back_503_rate",
            "status_503_rate",
            "status_garbled_rate",
        ]
        for name in rates:
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be within 0..1, got {value}")
        if sum(getattr(self, name) for name, _ in _CREATE_RATES) > 1.0:
            raise ValueError("the create fault rates add up to more than 1")
        if self.hang_seconds < 0 or (self.retry_after is not None and self.retry_after < 0):
            raise ValueError("hang_seconds and retry_after must not be negative")
        for name in ("revoke_after_creates", "revoke_after_updates"):
            limit = getattr(self, name)
            if limit is not None and (
                isinstance(limit, bool) or not isinstance(limit, int) or limit < 0
            ):
                raise ValueError(f"{name} must be a whole number >= 0")
        known = {fault.value for fault in CreateFault}
        for script in ("create_script", "update_script"):
            unknown = [name for name in getattr(self, script) if name not in known]
            if unknown:
                raise ValueError(f"unknown {script} entries {unknown}; known: {sorted(known)}")

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> FaultPlan:
        """Build a plan from a JSON object with the dataclass field names."""
        fields = {field.name for field in dataclasses.fields(cls)}
        unknown = sorted(set(data) - fields)
        if unknown:
            raise ValueError(f"unknown fault plan fields {unknown}")
        return cls(**data)  # type: ignore[arg-type]  # field types are checked in __post_init__

    def to_json(self) -> dict[str, object]:
        """The plan as a JSON-ready object."""
        plan = dataclasses.asdict(self)
        plan["create_script"] = list(self.create_script)
        plan["update_script"] = list(self.update_script)
        return plan


class FaultDice:
    """Draws faults for a plan; each endpoint has its own seeded stream so draws stay repeatable."""

    def __init__(self, plan: FaultPlan) -> None:
        self.plan = plan
        self._lock = threading.Lock()
        self._script = list(plan.create_script)
        self._update_script = list(plan.update_script)
        self._create = random.Random(plan.seed)
        self._read_back = random.Random(plan.seed + 1)
        self._status = random.Random(plan.seed + 2)
        self._update = random.Random(plan.seed + 3)
        self._creates = 0
        self._updates = 0

    def create(self) -> CreateFault:
        """The fault for the next create request."""
        return self._write(self._script, self._create)

    def update(self) -> CreateFault:
        """The fault for the next reschedule (PUT) request."""
        return self._write(self._update_script, self._update)

    def _write(self, script: list[str], stream: random.Random) -> CreateFault:
        with self._lock:
            if script:
                return CreateFault(script.pop(0))
            draw = stream.random()
        threshold = 0.0
        for name, fault in _CREATE_RATES:
            threshold += getattr(self.plan, name)
            if draw < threshold:
                return fault
        return CreateFault.OK

    def revokes_at_this_create(self) -> bool:
        """Count one create; True once `revoke_after_creates` creates were let through."""
        with self._lock:
            self._creates += 1
            limit = self.plan.revoke_after_creates
            return limit is not None and self._creates > limit

    def revokes_at_this_update(self) -> bool:
        """Count one reschedule; True once `revoke_after_updates` of them were let through."""
        with self._lock:
            self._updates += 1
            limit = self.plan.revoke_after_updates
            return limit is not None and self._updates > limit

    def read_back_503(self) -> bool:
        """Whether the next read-back answers 503."""
        with self._lock:
            return self._read_back.random() < self.plan.read_back_503_rate

    def status_503(self) -> bool:
        """Whether the next write-status request answers 503."""
        with self._lock:
            return self._status.random() < self.plan.status_503_rate

    def status_garbled(self) -> int | None:
        """None, or which garbled answer the next write-status request gets."""
        with self._lock:
            if self._status.random() >= self.plan.status_garbled_rate:
                return None
            return self._status.randrange(1_000)
