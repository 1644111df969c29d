"""Hypothesis strategies for generated syncs: catalogs, message sequences, fault plans.

Small pools (four leads, one to three PMSs, a few UTC instants on ordinary days or on a day
US clocks change) make rows collide: the same lead in several streams, the same slot twice, a
move and a create of one lead. The simplest value of each choice comes first, so a failing
case shrinks towards one plain ResMan stream, few rows, no faults.
"""

from __future__ import annotations

import os
from typing import Any

from hypothesis import strategies as st

from integration_tests.simulation.model import (
    UNKNOWN_EVENT,
    Case,
    Faults,
    Form,
    Message,
    Mode,
    Row,
    Seeded,
    State,
    StateType,
    StreamSpec,
)
from integration_tests.simulation.vendors import PMSS, VENDOR_KEYS, VendorKey
from propexo_sandbox import CreateFault, FaultRule

LEADS = ("lead-a", "lead-b", "lead-c", "lead-missing-d")
# The UTC days and times of one sync's rows: ordinary days, or a day US clocks change (in
# 2041: back on November 3, forward on March 10), at instants around each zone's change, so
# some are the second time a wall clock happens (refused where the PMS reads a wall clock).
CLOCKS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "ordinary": (("2041-03-01", "2041-04-01"), ("14:30", "10:00")),
    "fall back": (("2041-11-03",), ("06:30", "07:30", "08:30")),
    "spring forward": (("2041-03-10",), ("07:30", "08:30", "09:30")),
}
STREAM_NAMES = ("tours", "visits", "moves")
MODES: tuple[Mode, ...] = ("append", "dedup_lead", "dedup_slot", "update")
# Odd cursors a STATE must carry back unchanged.
ODD_CURSORS: tuple[Any, ...] = (
    "2041-03-01T00:00:00Z",
    "ünïcødé ✓ 😀",
    "",
    None,
    [],
    {"nested": {"deeper": [1, "two", None]}},
    -0.5,
    1.5e300,
    2**63 - 1,
    2**64 + 1,  # beyond 64 bits: a NUMBER(38) id
    10**30 + 7,
    True,
    "\u2028line\\separator",
)

# Faults that end (a few requests) and faults that may go on (an outage). An outage is only
# planned with a short Retry-After, so a generated sync stays quick.
SERVICE = (
    CreateFault.RATE_503,
    CreateFault.RATE_429,
    CreateFault.DROP,
    CreateFault.RATE_500,
    CreateFault.HANG,
)
LOST_ANSWER = (
    CreateFault.CREATED_THEN_500,
    CreateFault.CREATED_THEN_DROP,
    CreateFault.CREATED_THEN_HANG,
)
WRITE_ROW = (CreateFault.JOB_FAILURE, CreateFault.JOB_PENDING, CreateFault.BAD_REQUEST)
FAULTS_BY_ENDPOINT: dict[str, tuple[CreateFault, ...]] = {
    "create": (*SERVICE, *LOST_ANSWER, *WRITE_ROW, CreateFault.NOT_FOUND),
    "update": (*SERVICE, *LOST_ANSWER, *WRITE_ROW, CreateFault.NOT_FOUND),
    "read_back": (*SERVICE, CreateFault.BAD_REQUEST, CreateFault.NOT_FOUND),
    "write_logs": SERVICE,
    "write_status": SERVICE,
    "integration": SERVICE,
    "any": (CreateFault.RATE_503, CreateFault.RATE_429, CreateFault.DROP),
}
ENDS_QUICKLY = frozenset(
    {
        CreateFault.RATE_503,
        CreateFault.RATE_429,
        CreateFault.BAD_REQUEST,
        CreateFault.NOT_FOUND,
        CreateFault.JOB_FAILURE,
    }
)


# Fault kinds a soak may leave out, to look past a known failure: `SIMULATION_WITHOUT=storage,
# sigterm` (CI always generates every kind). Kinds: rules, revoke, broken_line, sigterm,
# storage, token (white space around the token and a 401 that quotes it).
FAULT_KINDS = frozenset({"rules", "revoke", "broken_line", "sigterm", "storage", "token"})
WITHOUT = frozenset(filter(None, os.environ.get("SIMULATION_WITHOUT", "").split(",")))
if WITHOUT - FAULT_KINDS:
    raise ValueError(f"SIMULATION_WITHOUT names unknown kinds {sorted(WITHOUT - FAULT_KINDS)}")


def _maybe(kind: str, values: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.none() if kind in WITHOUT else st.none() | values


@st.composite
def fault_rules(draw: st.DrawFn) -> FaultRule:
    endpoint = draw(st.sampled_from(tuple(FAULTS_BY_ENDPOINT)))
    fault = draw(st.sampled_from(FAULTS_BY_ENDPOINT[endpoint]))
    retry_after = draw(st.sampled_from((None, 0.0, 0.2)))
    counts: tuple[int | None, ...] = (1, 2, 3)
    if fault in ENDS_QUICKLY and (retry_after is not None or fault not in SERVICE):
        counts = (*counts, None)
    return FaultRule(
        endpoint=endpoint,
        fault=fault,
        first=draw(st.integers(1, 8)),
        count=draw(st.sampled_from(counts)),
        retry_after=retry_after,
    )


@st.composite
def faults(draw: st.DrawFn, messages: int) -> Faults:
    token = "token" not in WITHOUT
    return Faults(
        rules=tuple(draw(st.lists(fault_rules(), max_size=0 if "rules" in WITHOUT else 3))),
        revoke_after_requests=draw(_maybe("revoke", st.integers(0, 12))),
        broken_line_at=draw(_maybe("broken_line", st.integers(0, messages))),
        sigterm_after_requests=draw(_maybe("sigterm", st.integers(1, 10))),
        storage_down_after=draw(_maybe("storage", st.integers(2, 6))),
        token_form=draw(st.sampled_from(("plain", "spaces", "newline") if token else ("plain",))),
        echo_authorization=draw(st.booleans() if token else st.just(False)),
    )


@st.composite
def streams(draw: st.DrawFn) -> tuple[StreamSpec, ...]:
    modes = draw(st.lists(st.sampled_from(MODES), min_size=1, max_size=3))
    return tuple(
        StreamSpec(
            name=STREAM_NAMES[number],
            namespace=draw(st.sampled_from((None, "crm"))),
            mode=mode,
        )
        for number, mode in enumerate(modes)
    )


VALID_FORMS: tuple[Form, ...] = ("plain", "notes", "offset")


def _one_in(draw: st.DrawFn, n: int) -> bool:
    """True about once in `n` (a power of two) draws; False is the simpler value. (Hypothesis
    draws small integer ranges with a bias towards their ends; fair coins it does not.)"""
    return all(draw(st.booleans()) for _ in range(n.bit_length() - 1))


def missable(vendor: VendorKey) -> tuple[str, ...]:
    """The columns a row of `vendor` may lack: the vendor's required fields (of its create or
    update) and the column its reading of time needs."""
    pms = PMSS[vendor]
    needed = pms.required("create") | (pms.required("update") if pms.has_update else set())
    if pms.zone_field is not None:
        needed |= {pms.zone_field}
    return tuple(sorted(needed))


@st.composite
def rows(
    draw: st.DrawFn,
    catalog: tuple[StreamSpec, ...],
    seeded: tuple[Seeded, ...],
    vendors: tuple[VendorKey, ...],
    clock: tuple[tuple[str, ...], tuple[str, ...]],
) -> Row:
    stream = draw(st.integers(0, len(catalog) - 1))
    # One row in four in a form the connector must reject, so most rows are booked.
    forms: tuple[Form, ...] = ("bad_time", "lead_space") if _one_in(draw, 4) else VALID_FORMS
    event = None
    lead = draw(st.sampled_from(LEADS))
    vendor = draw(st.sampled_from(vendors))
    if catalog[stream].mode == "update":
        event = draw(st.sampled_from((*range(len(seeded)), UNKNOWN_EVENT)))
        if event != UNKNOWN_EVENT:
            # A move names its appointment's lead and integration.
            lead, vendor = seeded[event].lead, seeded[event].vendor
    missing = None
    if missable(vendor) and _one_in(draw, 4):
        missing = draw(st.sampled_from(missable(vendor)))
    days, times = clock
    return Row(
        stream=stream,
        lead=lead,
        date=draw(st.sampled_from(days)),
        time=draw(st.sampled_from(times)),
        form=draw(st.sampled_from(forms)),
        event=event,
        vendor=vendor,
        missing=missing,
    )


@st.composite
def cases(draw: st.DrawFn) -> Case:
    catalog = draw(streams())
    state_types: tuple[StateType, ...] = ("STREAM", "GLOBAL", "LEGACY")
    state_type = draw(st.sampled_from(state_types))
    vendors = tuple(
        draw(st.lists(st.sampled_from(VENDOR_KEYS), min_size=1, max_size=3, unique=True))
    )
    # Mostly ResMan, sometimes another of the sync's PMSs (MRI, or Yardi with a stream that
    # moves tours, is refused before any row is read).
    configured = draw(st.sampled_from(vendors)) if _one_in(draw, 8) else "resman"
    clock = CLOCKS[draw(st.sampled_from(tuple(CLOCKS)))]
    days, times = clock
    seeded = tuple(
        draw(
            st.lists(
                st.builds(
                    Seeded,
                    lead=st.sampled_from(LEADS),
                    date=st.sampled_from(days),
                    time=st.sampled_from(times),
                    vendor=st.sampled_from(vendors),
                ),
                max_size=3,
            )
        )
    )
    cursor = st.integers(0, 9) | st.sampled_from(ODD_CURSORS)
    state_stream = st.integers(0, len(catalog) - 1) if state_type == "STREAM" else st.none()
    state = st.builds(State, stream=state_stream, cursor=cursor)
    messages: list[Message] = draw(
        st.lists(st.one_of(rows(catalog, seeded, vendors, clock), state), min_size=1, max_size=14)
    )
    if draw(st.booleans()):
        messages.append(draw(state))
    return Case(
        streams=catalog,
        state_type=state_type,
        messages=tuple(messages),
        seeded=seeded,
        faults=draw(faults(len(messages))),
        max_requests_in_flight=draw(st.none() | st.integers(1, 4)),
        use_write_logs_feed=draw(st.booleans()),
        configured=configured,
    )
