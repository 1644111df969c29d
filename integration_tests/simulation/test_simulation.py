"""Generated syncs: catalogs, messages and fault plans, each run through the real connector
as Airbyte runs it (attempts from the last echoed STATE, then the next job), and checked
against the sandbox's record of what was booked and when each request started.

CI runs `SIMULATION_EXAMPLES` (default 12) derandomized examples: the same cases every run,
and the hand-written vendor cases below (`VENDOR_CASES`): every PMS in one sync, the night US
clocks fall back, and unclear creates at the PMSs that cannot read a new tour back at once.
`make soak MINUTES=30` runs random seeds for as long as asked (see `soak.py` here).
A failure prints the case (catalog, messages, fault plan), what each run did, the violated
invariants, and how to replay it.
"""

from __future__ import annotations

import atexit
import os
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings

from integration_tests.simulation.harness import Simulation
from integration_tests.simulation.model import Case, Faults, Row, Seeded, State, StreamSpec
from integration_tests.simulation.strategies import cases
from propexo_sandbox import CreateFault, FaultRule

settings.register_profile(
    "ci",
    max_examples=int(os.environ.get("SIMULATION_EXAMPLES", "12")),
    derandomize=True,
    database=None,
    deadline=None,
    print_blob=True,
    suppress_health_check=list(HealthCheck),
)
settings.register_profile(
    "soak",
    max_examples=10,
    deadline=None,
    print_blob=True,
    suppress_health_check=list(HealthCheck),
)
PROFILE = settings.get_profile(os.environ.get("SIMULATION_PROFILE", "ci"))

# Counted for `make soak`: every generated sync run (shrinking's included) and those that held.
TALLY = {"syncs": 0, "passed": 0}
_simulation: Simulation | None = None


def simulation() -> Simulation:
    global _simulation
    if _simulation is None:
        _simulation = Simulation()
        atexit.register(_simulation.close)
    return _simulation


TOURS = StreamSpec("tours", None, "append")
ONE_TOUR = StreamSpec("visits", "crm", "dedup_lead")
MOVES = StreamSpec("moves", None, "update")


def _tour(stream: int, lead: str, vendor: str, at: str = "2041-03-01 14:30", **more: object) -> Row:
    date, time = at.split()
    return Row(stream=stream, lead=lead, date=date, time=time, vendor=vendor, **more)  # type: ignore[arg-type]


# 06:30, 07:30 and 08:30 UTC are 01:30 the second time in New York, Chicago and Denver.
FALL_BACK_TOURS = tuple(
    _tour(0, lead, vendor, f"2041-11-03 {time}")
    for time in ("06:30", "07:30", "08:30")
    for lead, vendor in (
        ("lead-a", "entrata"),
        ("lead-b", "rentmanager"),
        ("lead-c", "rentmanager"),
        ("lead-a", "realpage-rpx"),
        ("lead-c", "resman"),
    )
)
VENDOR_CASES = (
    # Every PMS in one sync, each in the modes it supports; lead-b is at the Eastern property.
    Case(
        streams=(TOURS, ONE_TOUR, MOVES),
        state_type="STREAM",
        seeded=(Seeded("lead-c", "2041-04-01", "10:00", "entrata"),),
        messages=(
            _tour(0, "lead-a", "resman"),
            _tour(0, "lead-a", "entrata"),
            _tour(0, "lead-b", "rentmanager"),
            _tour(0, "lead-b", "yardi"),
            _tour(0, "lead-a", "yardi-rest"),
            _tour(0, "lead-c", "appfolio", form="notes"),
            _tour(0, "lead-c", "realpage-rpx"),
            _tour(0, "lead-a", "realpage-rpx", missing="property_timezone"),
            _tour(0, "lead-b", "mri"),
            _tour(0, "lead-c", "entrata", missing="notes"),
            _tour(0, "lead-a", "appfolio", missing="unit_id"),
            State(0, cursor="all vendors"),
            _tour(1, "lead-b", "yardi"),  # one upcoming tour: Yardi cannot move it
            _tour(1, "lead-a", "rentmanager", "2041-04-01 10:00"),
            _tour(2, "lead-c", "entrata", "2041-04-01 10:00", event=0),  # Entrata's PUT
            State(1, cursor=1),
            State(2, cursor=2),
        ),
    ),
    # The night US clocks fall back: some instants are a wall clock's second time somewhere.
    Case(
        streams=(TOURS,),
        state_type="GLOBAL",
        messages=(*FALL_BACK_TOURS, State(None, cursor="fell back")),
    ),
    # Unclear creates at Entrata and Yardi REST: never re-sent, "outcome unknown"; one at
    # ResMan is read back as ever.
    Case(
        streams=(TOURS,),
        state_type="STREAM",
        messages=(
            _tour(0, "lead-a", "entrata"),
            _tour(0, "lead-b", "yardi-rest"),
            _tour(0, "lead-c", "resman"),
            _tour(0, "lead-a", "entrata", "2041-04-01 10:00"),
            State(0, cursor=0),
        ),
        faults=Faults(
            rules=(
                FaultRule("create", CreateFault.CREATED_THEN_500, first=1),
                FaultRule("create", CreateFault.CREATED_THEN_HANG, first=2),
                FaultRule("create", CreateFault.CREATED_THEN_DROP, first=3),
            )
        ),
        max_requests_in_flight=1,
    ),
    # Object storage fails as the first STATE's entries are made durable, while moves of the
    # rows after it are on the wire: the stop settles them, so each move Propexo made has its
    # outcome (found by the soak: the stop skipped the settling, leaving a move unreported).
    Case(
        streams=(MOVES,),
        state_type="GLOBAL",
        seeded=(
            Seeded("lead-a", "2041-11-03", "06:30", "rentmanager"),
            Seeded("lead-a", "2041-11-03", "06:30", "rentmanager"),
            Seeded("lead-b", "2041-11-03", "06:30", "rentmanager"),
        ),
        messages=(
            _tour(0, "lead-b", "rentmanager", "2041-11-03 08:30", event=2),
            State(None, cursor=0),
            _tour(0, "lead-a", "rentmanager", "2041-11-03 06:30", event=0),
            _tour(0, "lead-b", "rentmanager", "2041-11-03 07:30", event=2),
            _tour(0, "lead-a", "rentmanager", "2041-11-03 06:30", event=0),
        ),
        faults=Faults(storage_down_after=2),
    ),
)


def _with_vendor_cases(test: Any) -> Any:
    for case in reversed(VENDOR_CASES):
        test = example(case=case)(test)
    return test


# Twelve syncs and the vendor cases take about a minute; a failure is shrunk for up to five
# minutes more.
@pytest.mark.timeout(900)
@PROFILE
@given(case=cases())
@_with_vendor_cases
def test_generated_syncs_keep_every_promise(case: Case) -> None:
    TALLY["syncs"] += 1
    with tempfile.TemporaryDirectory(prefix="propexo-sim-case-") as tmp:
        outcome = simulation().run(case, Path(tmp))
    assert not outcome.problems, "\n" + outcome.report()
    TALLY["passed"] += 1
