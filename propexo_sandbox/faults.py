"""The fault plan: which sandbox answers go wrong.

Three ways, applied in this order to each API request:
1. `rules`: a `FaultRule` names an endpoint (or `any`) and a run of request numbers
   (1-based, counted per endpoint, or over every API request for `any`) that get one fault,
   so a test plans a fault at an exact point: "the 3rd to 5th read-back answer 503";
2. `create_script` / `update_script`: the first write answers, in order;
3. `rate_*`: write faults drawn per request from a seeded generator.
`revoke_after_requests` (and `_creates`, `_updates`) refuses the token from a request on.
"""

from __future__ import annotations

import dataclasses
import random
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum


class CreateFault(StrEnum):
    """What happens to one request: a create, or a reschedule (PUT) alike; through a
    `FaultRule` also a read (write status, write-logs feed, read-back, integration lookup).

    For a reschedule, "created" means "the update job was queued" and `job_failure` means
    the update job ends FAILURE, leaving the appointment where it was. `job_pending` keeps
    the queued job PENDING for the plan's `pending_seconds`, then lets it succeed. `hang`
    holds the usual answer `hang_seconds` (for a write: queued, then held, as
    `created_then_hang`). `400` and `404` refuse the request (a write queues nothing).
    `created_then_*`, `job_failure` and `job_pending` only apply to writes.
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
    JOB_PENDING = "job_pending"
    HANG = "hang"
    BAD_REQUEST = "400"
    NOT_FOUND = "404"


# The sandbox's API endpoints a rule can name (as `RequestStats` counts them), and `any`.
RULE_ENDPOINTS = ("create", "update", "write_status", "write_logs", "read_back", "integration")
ANY_ENDPOINT = "any"
WRITE_ENDPOINTS = frozenset({"create", "update"})
WRITE_ONLY_FAULTS = frozenset(
    {
        CreateFault.CREATED_THEN_500,
        CreateFault.CREATED_THEN_HANG,
        CreateFault.CREATED_THEN_DROP,
        CreateFault.JOB_FAILURE,
        CreateFault.JOB_PENDING,
    }
)


@dataclass(frozen=True)
class FaultRule:
    """One fault for a run of requests: those numbered `first` .. `first + count - 1`.

    Requests are numbered from 1 per `endpoint` (`create`, `update`, `write_status`,
    `write_logs`, `read_back`, `integration`), or over every API request for `any`; the
    count goes on across syncs for the sandbox's life. `count` None: every request from
    `first` on (an outage that does not end). `retry_after` (seconds) is sent with a 429 or
    503; None sends none. Raises ValueError on a value out of range or a write-only fault
    (`created_then_*`, `job_failure`, `job_pending`) on a read endpoint.
    """

    endpoint: str
    fault: CreateFault
    first: int = 1
    count: int | None = 1
    retry_after: float | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "fault", CreateFault(self.fault))
        if self.endpoint not in (*RULE_ENDPOINTS, ANY_ENDPOINT):
            known = [*RULE_ENDPOINTS, ANY_ENDPOINT]
            raise ValueError(f"unknown rule endpoint {self.endpoint!r}; known: {known}")
        if self.fault in WRITE_ONLY_FAULTS and self.endpoint not in WRITE_ENDPOINTS:
            raise ValueError(f"fault {self.fault.value!r} only applies to create or update")
        if _not_whole(self.first) or self.first < 1:
            raise ValueError(f"rule first must be a whole number >= 1, got {self.first!r}")
        if self.count is not None and (_not_whole(self.count) or self.count < 1):
            raise ValueError(f"rule count must be a whole number >= 1 or null, got {self.count!r}")
        if self.retry_after is not None and not 0 <= self.retry_after < float("inf"):
            raise ValueError(f"rule retry_after must be >= 0, got {self.retry_after!r}")

    def covers(self, number: int) -> bool:
        """Whether the request numbered `number` (of its endpoint, or of all) gets the fault."""
        return number >= self.first and (self.count is None or number < self.first + self.count)

    @classmethod
    def from_json(cls, data: object) -> FaultRule:
        """A rule from a JSON object with the dataclass field names; raises ValueError."""
        if not isinstance(data, Mapping):
            raise ValueError(f"a fault rule must be an object, got {data!r}")
        fields = {field.name for field in dataclasses.fields(cls)}
        unknown = sorted(set(data) - fields)
        if unknown:
            raise ValueError(f"unknown fault rule fields {unknown}")
        try:
            return cls(**data)
        except TypeError as exc:  # a required field missing
            raise ValueError(f"invalid fault rule {dict(data)}: {exc}") from None

    def to_json(self) -> dict[str, object]:
        """The rule as a JSON-ready object."""
        return {**dataclasses.asdict(self), "fault": self.fault.value}


def _not_whole(value: object) -> bool:
    return isinstance(value, bool) or not isinstance(value, int)


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
    `revoke_after_updates` does the same counting reschedules, `revoke_after_requests`
    counting every API request. Each revokes once: after `Sandbox.restore_token()` (the user
    fixed the token) the count does not revoke again.

    `rules` (see `FaultRule`) go before the script and the rates; a request a rule covers
    draws nothing. `pending_seconds` is how long a `job_pending` job stays PENDING.
    `echo_authorization` makes a 401 quote the Authorization header it got, as some API
    gateways do, so a test can check that the client masks its token in every form.
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
    revoke_after_requests: int | None = None
    rules: tuple[FaultRule, ...] = ()
    pending_seconds: float = 30.0
    echo_authorization: bool = False

    def __post_init__(self) -> None:
        # A JSON list arrives as a list; keep the plan hashable and immutable.
        object.__setattr__(self, "create_script", tuple(self.create_script))
        object.__setattr__(self, "update_script", tuple(self.update_script))
        rules = tuple(
            rule if isinstance(rule, FaultRule) else FaultRule.from_json(rule)
            for rule in self.rules
        )
        object.__setattr__(self, "rules", rules)
        if not 0 <= self.pending_seconds < float("inf"):
            raise ValueError(f"pending_seconds must be >= 0, got {self.pending_seconds!r}")
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
        for name in ("revoke_after_creates", "revoke_after_updates", "revoke_after_requests"):
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
        plan["rules"] = [rule.to_json() for rule in self.rules]
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
        self._requests = 0
        self._numbers = dict.fromkeys(RULE_ENDPOINTS, 0)
        self._revoked: set[str] = set()

    def rule_for(self, endpoint: str) -> FaultRule | None:
        """Count one API request of `endpoint`; the first rule that covers it, if any.

        Also counts it for `revoke_after_requests`; an endpoint outside `RULE_ENDPOINTS`
        (an unknown path) is counted only there and gets no rule.
        """
        with self._lock:
            self._requests += 1
            if endpoint not in self._numbers:
                return None
            self._numbers[endpoint] += 1
            number, overall = self._numbers[endpoint], self._requests
        for rule in self.plan.rules:
            if rule.endpoint == endpoint and rule.covers(number):
                return rule
            if rule.endpoint == ANY_ENDPOINT and rule.covers(overall):
                return rule
        return None

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
        """Count one create; True at the first past `revoke_after_creates`."""
        with self._lock:
            self._creates += 1
            return self._revokes_once("creates", self._creates, self.plan.revoke_after_creates)

    def revokes_at_this_update(self) -> bool:
        """Count one reschedule; True at the first past `revoke_after_updates`."""
        with self._lock:
            self._updates += 1
            return self._revokes_once("updates", self._updates, self.plan.revoke_after_updates)

    def revokes_at_this_request(self) -> bool:
        """True at the first request past `revoke_after_requests` (counted in `rule_for`)."""
        with self._lock:
            limit = self.plan.revoke_after_requests
            return self._revokes_once("requests", self._requests, limit)

    def _revokes_once(self, counter: str, count: int, limit: int | None) -> bool:
        # Called with the lock held. Once per counter, so a restored token stays restored.
        if limit is None or count <= limit or counter in self._revoked:
            return False
        self._revoked.add(counter)
        return True

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
