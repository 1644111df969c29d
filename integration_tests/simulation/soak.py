"""`make soak MINUTES=30`: generated syncs on random seeds for as long as asked.

Runs the simulation suite's test in batches of `SOAK_BATCH` examples, each batch on a fresh
random seed, until the time is up (a batch that has begun is finished). A failing case is
shrunk by Hypothesis and printed (case, runs, violations) with its seed and the command that
replays it; the soak goes on with the next seed. Ends with how many generated syncs ran and
held (shrinking's runs included), and exits 1 if any case failed.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
import traceback

os.environ.setdefault("SIMULATION_PROFILE", "soak")

from hypothesis import given, seed, settings  # after the profile is chosen

from integration_tests.simulation import test_simulation
from integration_tests.simulation.model import Case
from integration_tests.simulation.strategies import cases


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make soak", description=__doc__)
    parser.add_argument("--minutes", type=float, default=30.0, help="how long to run")
    parser.add_argument("--batch", type=int, default=int(os.environ.get("SOAK_BATCH", "10")))
    args = parser.parse_args(argv)
    deadline = time.monotonic() + args.minutes * 60
    started = time.monotonic()
    failures: list[int] = []
    batches = 0
    tally = test_simulation.TALLY
    # The suite's own test body, given the suite's strategy under the soak's settings.
    body = test_simulation.test_generated_syncs_keep_every_promise.hypothesis.inner_test

    # The body alone: CI's hand-written cases (its @example marks) are not the soak's.
    def inner(case: Case) -> None:
        body(case=case)

    while time.monotonic() < deadline:
        chosen = random.SystemRandom().randrange(2**32)
        batches += 1
        soak = settings(test_simulation.PROFILE, max_examples=args.batch)
        test = seed(chosen)(soak(given(case=cases())(inner)))
        try:
            test()
        except Exception:  # a failing case: Hypothesis has shrunk and printed it
            failures.append(chosen)
            traceback.print_exc(limit=0)
            print(
                f"\nFAILED with seed {chosen}; replay: SIMULATION_PROFILE=soak "
                f".venv/bin/pytest integration_tests/simulation --hypothesis-seed={chosen} "
                f"(and the @reproduce_failure blob above replays the shrunk case alone)\n",
                flush=True,
            )
        minutes = (time.monotonic() - started) / 60
        print(
            f"soak: {minutes:.1f} min, batch {batches} (seed {chosen}): {tally['syncs']} "
            f"generated syncs ran, {tally['passed']} passed, {len(failures)} failing cases",
            flush=True,
        )
    minutes = (time.monotonic() - started) / 60
    print(
        f"\nsoak done after {minutes:.1f} min: {tally['syncs']} generated syncs ran, "
        f"{tally['passed']} passed, {tally['syncs'] - tally['passed']} failed "
        f"(shrinking included); failing seeds: {failures or 'none'}",
        flush=True,
    )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
