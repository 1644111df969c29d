"""One generated sync: a catalog, the messages Airbyte sends, appointments Propexo already has,
and a fault plan; printed readably, since a failing case is read by a person.

Every value here is plain data, so Hypothesis can shrink it: streams by index, leads by
name, an update row's event by the index of a seeded appointment (its id exists only once the
sandbox has stored it).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any, Literal

from integration_tests.simulation.vendors import PMSS, STATED_ZONE, VendorKey
from propexo_sandbox import FaultRule

Mode = Literal["append", "dedup_lead", "dedup_slot", "update"]
StateType = Literal["STREAM", "GLOBAL", "LEGACY"]
# How a row's values are written: `plain`; `notes` (unicode notes); `offset` (one
# appointment_datetime with a -05:00 offset instead of date + time); the rest are the row's
# own faults: `bad_time` and `lead_space` (a space inside the lead id; both rejected by the
# connector). A row's vendor fields are `Row.vendor`'s and `Row.missing`'s.
Form = Literal["plain", "notes", "offset", "bad_time", "lead_space"]
INVALID_FORMS = frozenset({"bad_time", "lead_space"})
# Forms Propexo itself refuses with a 400 (none since every PMS is booked on its own terms).
REFUSED_FORMS: frozenset[str] = frozenset()
UNKNOWN_EVENT = -1
UNKNOWN_EVENT_ID = "appt-0000000000000000"
# Where each lead is (the sandbox is told before the sync): `prop-east` is the Eastern property
# of the Rent Manager and Yardi integrations, every other property is Central there.
LEAD_PROPERTIES = {"lead-b": "prop-east"}
DEFAULT_PROPERTY = "prop-sandbox-1"
# Every vendor column a row carries (each vendor gets only those it takes), but `Row.missing`.
VENDOR_COLUMNS: dict[str, object] = {
    "lead_source_id": "src-web",
    "unit_id": "unit-1",
    "employee_id": "emp-1",
    "title": "Tour of the model unit",
    "appointment_duration_minutes": 30,
    "appointment_type": "TOUR",
    "property_timezone": STATED_ZONE,
}
# The notes of a `notes` row, and of every other; each ends with the row's tag.
UNICODE_NOTES = "Tür 🔑 — צפון\u2028second line"
PLAIN_NOTES = "Meet at the front desk"
TAG_PREFIX = " [row "


def property_of(lead: str) -> str:
    return LEAD_PROPERTIES.get(lead, DEFAULT_PROPERTY)


def row_tag(index: int) -> str:
    """What a row's notes end with, so each write request names the row that made it."""
    return f"{TAG_PREFIX}{index}]"


_PRIMARY_KEYS: dict[Mode, list[list[str]]] = {
    "append": [],
    "dedup_lead": [["lead_id"]],
    "dedup_slot": [["lead_id"], ["appointment_date"], ["appointment_time"]],
    "update": [["event_id"]],
}
_SYNC_MODES: dict[Mode, str] = {
    "append": "append",
    "dedup_lead": "append_dedup",
    "dedup_slot": "append_dedup",
    "update": "update",
}


@dataclass(frozen=True)
class StreamSpec:
    """A configured stream; `dedup_lead` is append_dedup keyed on lead_id, `dedup_slot` keyed
    on lead + date + time, `update` moves by event_id."""

    name: str
    namespace: str | None
    mode: Mode

    def configured(self) -> dict[str, Any]:
        """The configured-catalog entry Airbyte hands the destination."""
        stream: dict[str, Any] = {
            "name": self.name,
            "json_schema": {},
            "supported_sync_modes": ["full_refresh", "incremental"],
        }
        if self.namespace is not None:
            stream["namespace"] = self.namespace
        return {
            "stream": stream,
            "sync_mode": "incremental",
            "destination_sync_mode": _SYNC_MODES[self.mode],
            "primary_key": _PRIMARY_KEYS[self.mode],
        }

    def descriptor(self) -> dict[str, Any]:
        named: dict[str, Any] = {"name": self.name}
        if self.namespace is not None:
            named["namespace"] = self.namespace
        return named

    def __str__(self) -> str:
        where = f"{self.namespace}.{self.name}" if self.namespace else self.name
        return f"{where}[{self.mode}]"


@dataclass(frozen=True)
class Row:
    """A RECORD: a lead's tour at `date` `time` (UTC) in stream number `stream`, at the
    sandbox's integration of `vendor`, with every vendor column but `missing`; an update
    row names seeded appointment number `event` (or `UNKNOWN_EVENT`)."""

    stream: int
    lead: str
    date: str
    time: str
    form: Form = "plain"
    event: int | None = None
    vendor: VendorKey = "resman"
    missing: str | None = None

    @property
    def integration_id(self) -> str:
        return PMSS[self.vendor].integration_id

    @property
    def instant(self) -> dt.datetime:
        return dt.datetime.fromisoformat(f"{self.date}T{self.time}:00+00:00")

    @property
    def slot(self) -> tuple[str, str, str]:
        """(integration, lead, UTC instant as the sandbox writes it)."""
        return self.integration_id, self.lead, f"{self.date}T{self.time}:00.000Z"

    def __str__(self) -> str:
        event = "" if self.event is None else f" event={self.event}"
        form = "" if self.form == "plain" else f" ({self.form})"
        missing = "" if self.missing is None else f" without {self.missing}"
        return (
            f"RECORD s{self.stream} {self.lead} {self.date} {self.time} at {self.vendor}"
            f"{event}{form}{missing}"
        )


@dataclass(frozen=True)
class State:
    """A STATE: of stream number `stream` (STREAM states) or of the sync (GLOBAL, LEGACY);
    `cursor` is an odd JSON value that must come back unchanged."""

    stream: int | None
    cursor: Any = 0

    def __str__(self) -> str:
        of = "" if self.stream is None else f" s{self.stream}"
        return f"STATE{of} cursor={json.dumps(self.cursor, ensure_ascii=False)}"


Message = Row | State


@dataclass(frozen=True)
class Seeded:
    """An appointment Propexo has before the sync (UTC), at the integration of `vendor`."""

    lead: str
    date: str
    time: str
    vendor: VendorKey = "resman"

    @property
    def integration_id(self) -> str:
        return PMSS[self.vendor].integration_id

    @property
    def slot(self) -> tuple[str, str, str]:
        return self.integration_id, self.lead, f"{self.date}T{self.time}:00.000Z"

    def __str__(self) -> str:
        return f"{self.lead} {self.date} {self.time} at {self.vendor}"


@dataclass(frozen=True)
class Faults:
    """What goes wrong: sandbox rules by request number and kind, and the harness's own.

    `revoke_after_requests`: the token is refused from that API request on, until the next
    job (the user fixed it). `broken_line_at`, `sigterm_after_requests`: in the first run
    only (a pipe that broke once; a cancelled sync, after which Airbyte starts the next job).
    `storage_down_after`: object storage answers 503 from that request on.
    `token_form`: the configured token as typed, with surrounding white space or not.
    """

    rules: tuple[FaultRule, ...] = ()
    revoke_after_requests: int | None = None
    broken_line_at: int | None = None
    sigterm_after_requests: int | None = None
    storage_down_after: int | None = None
    token_form: Literal["plain", "spaces", "newline"] = "plain"
    echo_authorization: bool = False
    pending_seconds: float = 2.5
    hang_seconds: float = 1.5

    def __str__(self) -> str:
        lines = [
            f"  rule {r.endpoint} #{r.first}{'' if r.count == 1 else f'+{r.count}'}: "
            f"{r.fault.value}{'' if r.retry_after is None else f' Retry-After {r.retry_after:g}'}"
            for r in self.rules
        ]
        extras = {
            "revoke token after request": self.revoke_after_requests,
            "broken input line at message": self.broken_line_at,
            "SIGTERM after request": self.sigterm_after_requests,
            "object storage down after request": self.storage_down_after,
        }
        lines += [f"  {what} {value}" for what, value in extras.items() if value is not None]
        if self.token_form != "plain":
            lines.append(f"  token typed with {self.token_form} around it")
        if self.echo_authorization:
            lines.append("  a 401 quotes the Authorization header")
        return "\n".join(lines) or "  none"


@dataclass(frozen=True)
class Case:
    """One generated sync."""

    streams: tuple[StreamSpec, ...]
    state_type: StateType
    messages: tuple[Message, ...]
    seeded: tuple[Seeded, ...] = ()
    faults: Faults = field(default_factory=Faults)
    max_requests_in_flight: int | None = None
    use_write_logs_feed: bool = True
    # The vendor of the configured integration (`intg-sandbox-{configured}`).
    configured: VendorKey = "resman"

    def rows(self) -> list[tuple[int, Row]]:
        """(message index, row) of every RECORD."""
        return [(i, m) for i, m in enumerate(self.messages) if isinstance(m, Row)]

    def catalog(self) -> dict[str, Any]:
        return {"streams": [stream.configured() for stream in self.streams]}

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        # How Hypothesis (and IPython) print a value: the readable form below.
        printer.text(repr(self))

    def __repr__(self) -> str:
        options = [
            f"state type {self.state_type}",
            f"feed {'on' if self.use_write_logs_feed else 'off'}",
        ]
        if self.max_requests_in_flight is not None:
            options.append(f"max {self.max_requests_in_flight} requests in flight")
        if self.configured != "resman":
            options.append(f"configured integration at {self.configured}")
        return "\n".join(
            [
                "Case(",
                "catalog: " + ", ".join(f"s{i}={s}" for i, s in enumerate(self.streams)),
                "options: " + ", ".join(options),
                "seeded: " + (", ".join(f"#{i} {s}" for i, s in enumerate(self.seeded)) or "none"),
                "messages:",
                *(f"  {i:2d} {m}" for i, m in enumerate(self.messages)),
                "faults:",
                str(self.faults),
                ")",
            ]
        )


def record_data(
    row: Row, event_ids: list[str], index: int = 0, configured: VendorKey = "resman"
) -> dict[str, Any]:
    """The row's RECORD data as a warehouse would send it; `index` is its message number (its
    notes end with its tag); a row of the `configured` integration's vendor leaves
    integration_id to the config."""
    data: dict[str, Any] = {"lead_id": row.lead}
    if row.vendor != configured:
        data["integration_id"] = row.integration_id
    data |= VENDOR_COLUMNS
    data["property_id"] = property_of(row.lead)
    data["notes"] = (UNICODE_NOTES if row.form == "notes" else PLAIN_NOTES) + row_tag(index)
    if row.missing is not None:
        del data[row.missing]
    if row.event is not None:
        data["event_id"] = UNKNOWN_EVENT_ID if row.event == UNKNOWN_EVENT else event_ids[row.event]
    if row.form == "offset":
        local = dt.datetime.fromisoformat(f"{row.date}T{row.time}:00+00:00").astimezone(
            dt.timezone(dt.timedelta(hours=-5))
        )
        data["appointment_datetime"] = local.isoformat()
    else:
        data["appointment_date"] = row.date
        data["appointment_time"] = "25:61" if row.form == "bad_time" else row.time
    if row.form == "lead_space":
        data["lead_id"] = row.lead.replace("-", " ", 1)  # inside the id: refused, not trimmed
    return data


def state_message(case: Case, state: State) -> dict[str, Any]:
    """The STATE message for `state` in the case's state type."""
    if case.state_type == "STREAM":
        stream = case.streams[state.stream or 0]
        body: dict[str, Any] = {
            "type": "STREAM",
            "stream": {
                "stream_descriptor": stream.descriptor(),
                "stream_state": {"cursor": state.cursor},
            },
        }
    elif case.state_type == "GLOBAL":
        body = {
            "type": "GLOBAL",
            "global": {
                "shared_state": {"cursor": state.cursor},
                "stream_states": [
                    {"stream_descriptor": s.descriptor(), "stream_state": {"seen": True}}
                    for s in case.streams
                ],
            },
        }
    else:
        body = {"type": "LEGACY", "data": {"cursor": state.cursor}}
    return {"type": "STATE", "state": body}


def message_json(
    case: Case, message: Message, event_ids: list[str], index: int = 0
) -> dict[str, Any]:
    """The Airbyte message for one generated message, number `index` of the case."""
    if isinstance(message, State):
        return state_message(case, message)
    stream = case.streams[message.stream]
    record: dict[str, Any] = {
        "stream": stream.name,
        "data": record_data(message, event_ids, index, case.configured),
        "emitted_at": 1_700_000_000_000,
    }
    if stream.namespace is not None:
        record["namespace"] = stream.namespace
    return {"type": "RECORD", "record": record}
