"""Generated syncs: catalogs, messages and fault plans, each run through the real connector
as Airbyte runs it (attempts from the last echoed STATE, then the next job), and checked
against the sandbox's record of what was booked and when each request started.

CI runs `SIMULATION_EXAMPLES` (default 12) derandomized examples: the same cases every run.
`make soak MINUTES=30` runs random seeds for as long as asked (see `soak.py` here).
A failure prints the case (catalog, messages, fault plan), what each run did, the violated
invariants, and how to replay it.
"""

from __future__ import annotations

import atexit
import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

from integration_tests.simulation.harness import Simulation
from integration_tests.simulation.model import Case
from integration_tests.simulation.strategies import cases

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


# Twelve syncs take a minute or two; a failure is shrunk for up to five minutes more.
@pytest.mark.timeout(900)
@PROFILE
@given(case=cases())
def test_generated_syncs_keep_every_promise(case: Case) -> None:
    TALLY["syncs"] += 1
    with tempfile.TemporaryDirectory(prefix="propexo-sim-case-") as tmp:
        outcome = simulation().run(case, Path(tmp))
    assert not outcome.problems, "\n" + outcome.report()
    TALLY["passed"] += 1
