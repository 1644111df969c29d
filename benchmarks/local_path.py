"""The local path, this tree beside the previous main, in one run: `make bench-local`.

Everything the connector does before and without a request: reading stdin, matching
columns, checking ids, converting times, logging outcomes, echoing STATEs. Each case runs
`python -m destination_propexo.run` in a subprocess, exactly as Airbyte runs it, once with
this tree's package and once with the previous main's (a `git worktree` of BASELINE, made
under the system's temp folder and removed at the end), on the same input files, against
a fresh local sandbox:

1. rejected: 200,000 rows that mapping rejects (not a real calendar date) after reading
   every id, as a warehouse sends them (upper-case column names, a few extra columns);
   no request but the read of the integration's vendor.
2. dry run: 1,000,000 valid rows (local date and time in America/Chicago), `dry_run` on,
   an `append` stream, a STATE every 1,000 rows; no request but the vendor's read.
3. start: wall time of `spec`, and of `check` against the sandbox (the median of 5).

Figures are records per second over the process's whole wall time (start-up included), the
same per CPU second of the process (user + system, from `wait4`: steadier on a shared
machine) and seconds; they are printed, never asserted: this is not a test. The rejected
case is the best of `--repeat` runs (3), the trees taking turns; the dry run runs once.
Byte code is compiled once for both trees before timing, as an installed package has it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from propexo_sandbox import Sandbox

REPO = Path(__file__).resolve().parents[1]
BASELINE = "b7b20f3"  # main before issue 16 (the layout by layer)
TOKEN = "sandbox-token"  # noqa: S105  # the sandbox's fixed, well-known token
INTEGRATION = "intg-sandbox-resman"
STATE_EVERY = 1_000
CATALOG = {
    "streams": [
        {
            "stream": {
                "name": "tours",
                "json_schema": {},
                "supported_sync_modes": ["full_refresh"],
            },
            "sync_mode": "full_refresh",
            "destination_sync_mode": "append",
        }
    ]
}


# Values as a tour table holds them: tours over four months at quarter hours of the working
# day; the rejected rows' dates are the days a calendar does not have, over three years.
VALID_DATES = tuple(
    f"2024-{month:02d}-{day:02d}" for month in (7, 8, 9, 10) for day in range(1, 31)
)
BAD_DATES = tuple(
    f"{year}-{month_day}"
    for year in (2024, 2025, 2026)
    for month_day in ("02-30", "02-31", "04-31", "06-31", "09-31", "11-31")
)
TIMES = tuple(f"{hour:02d}:{minute:02d}:00" for hour in range(8, 19) for minute in (0, 15, 30, 45))


def rows(count: int, *, valid: bool) -> Iterator[bytes]:
    """JSON lines as a Snowflake source sends them; a STATE every STATE_EVERY rows."""
    dates = VALID_DATES if valid else BAD_DATES
    for n in range(count):
        data = {
            "LEAD_ID": f"lead-{n:07d}-4f9a1c2e",
            "LEAD_SOURCE_ID": "src-web-8b3d",
            "UNIT_ID": f"unit-{n % 400:04d}",
            "APPOINTMENT_DATE": dates[n * 7919 % len(dates)],
            "APPOINTMENT_TIME": TIMES[n * 104729 % len(TIMES)],
            "PROPERTY_NAME": "Maple Court",
            "TOUR_TYPE": "in person",
            "_AIRBYTE_EXTRACTED_AT": "2024-07-19T22:00:00Z",
            "UPDATED_AT": 1721426400,
        }
        record = {"stream": "tours", "data": data, "emitted_at": 1721426400000}
        yield json.dumps({"type": "RECORD", "record": record}).encode() + b"\n"
        if (n + 1) % STATE_EVERY == 0 or n + 1 == count:
            state = {
                "type": "STREAM",
                "stream": {"stream_descriptor": {"name": "tours"}, "stream_state": {"n": n}},
            }
            yield json.dumps({"type": "STATE", "state": state}).encode() + b"\n"


@contextmanager
def baseline_tree() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="propexo-baseline-") as tmp:
        tree = Path(tmp) / "tree"
        subprocess.run(
            ["git", "-C", str(REPO), "worktree", "add", "--detach", "--quiet", str(tree), BASELINE],
            check=True,
        )
        try:
            yield tree
        finally:
            subprocess.run(
                ["git", "-C", str(REPO), "worktree", "remove", "--force", str(tree)], check=True
            )


def run(tree: Path, args: list[str], stdin: Path | None = None) -> tuple[float, float, str]:
    """Run the CLI from `tree`'s package; (wall seconds, CPU seconds, stdout). Byte code is
    written and reused, as in an installed package (pip compiles it at install)."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    started = time.perf_counter()
    with (
        open(stdin or os.devnull, "rb") as source,
        tempfile.TemporaryFile() as out,
        subprocess.Popen(
            [sys.executable, "-m", "destination_propexo.run", *args],
            stdin=source,
            stdout=out,
            stderr=subprocess.DEVNULL,
            cwd=tree,
            env=env,
        ) as process,
    ):
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.perf_counter() - started
        out.seek(0)
        stdout = out.read().decode()
    if process.returncode != 0:
        raise RuntimeError(f"{args[0]} failed in {tree}: {stdout[-2000:]!r}")
    return seconds, usage.ru_utime + usage.ru_stime, stdout


def write_case(
    tree: Path, work: Path, config: dict[str, Any], stdin: Path, rows_in: int
) -> tuple[float, float]:
    """(records per wall second, records per CPU second) of one write."""
    config_path = work / "config.json"
    config_path.write_text(json.dumps(config))
    catalog_path = work / "catalog.json"
    catalog_path.write_text(json.dumps(CATALOG))
    args = ["write", "--config", str(config_path), "--catalog", str(catalog_path)]
    seconds, cpu, out = run(tree, args, stdin)
    outcomes = out.count("record outcome: ")
    if outcomes != rows_in:
        raise RuntimeError(f"{outcomes} outcomes for {rows_in} rows in {tree}")
    return rows_in / seconds, rows_in / cpu


def start_case(tree: Path, work: Path, config: dict[str, Any]) -> tuple[float, float]:
    config_path = work / "config.json"
    config_path.write_text(json.dumps(config))
    spec = statistics.median(run(tree, ["spec"])[0] for _ in range(5))
    check = statistics.median(
        run(tree, ["check", "--config", str(config_path)])[0] for _ in range(5)
    )
    return spec, check


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rejected", type=int, default=200_000)
    parser.add_argument("--valid", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3, help="runs of the rejected case")
    options = parser.parse_args()
    print(
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}, baseline {BASELINE}"
    )
    with tempfile.TemporaryDirectory() as tmp, baseline_tree() as baseline, Sandbox() as sandbox:
        work = Path(tmp)
        rejected, valid = work / "rejected.jsonl", work / "valid.jsonl"
        rejected.write_bytes(b"".join(rows(options.rejected, valid=False)))
        valid.write_bytes(b"".join(rows(options.valid, valid=True)))
        config = {
            "token": TOKEN,
            "integration_id": INTEGRATION,
            "api_url": sandbox.url,
            "source_timezone": "America/Chicago",
        }
        warm_up = work / "warm-up.jsonl"
        warm_up.write_bytes(b"".join(rows(10, valid=False)))
        trees = (("previous main", baseline), ("this tree", REPO))
        figures: dict[str, dict[str, Any]] = {name: {} for name, _ in trees}
        for _, tree in trees:  # every module the write imports compiled once, untimed
            write_case(tree, work, config, warm_up, 10)
        # The rejected case, the shortest, runs `--repeat` times with the trees taking
        # turns, so a change in the machine's load falls on both; the best run of each
        # counts (as timeit's), the one least disturbed by other work.
        for _ in range(options.repeat):
            for name, tree in trees:
                run_figures = write_case(tree, work, config, rejected, options.rejected)
                best = figures[name].get("rejected", (0.0, 0.0))
                figures[name]["rejected"] = (
                    max(best[0], run_figures[0]),
                    max(best[1], run_figures[1]),
                )
        for name, tree in trees:
            figures[name]["dry run"] = write_case(
                tree, work, {**config, "dry_run": True}, valid, options.valid
            )
            figures[name]["spec"], figures[name]["check"] = start_case(tree, work, config)
        stats = sandbox.stats()
        # Only integration reads: the checks', and each write's read of its vendor.
        if stats["total"] != stats["integration"]:
            raise RuntimeError(f"unexpected requests: {stats}")
    before, after = figures["previous main"], figures["this tree"]
    print(f"{'case':<36}{'previous main':>15}{'this tree':>15}{'speed-up':>10}")
    print("-" * 76)
    for key, label in (
        ("rejected", f"{options.rejected:,} rows rejected locally"),
        ("dry run", f"{options.valid:,} valid rows, dry run"),
    ):
        for index, unit in ((0, "records/s"), (1, "records/CPU s")):
            print(
                f"{label + ', ' + unit:<36}{before[key][index]:>15,.0f}{after[key][index]:>15,.0f}"
                f"{after[key][index] / before[key][index]:>9.1f}x"
            )
    for key in ("spec", "check"):
        print(
            f"{key + ' start (s, median of 5)':<36}{before[key]:>15.2f}{after[key]:>15.2f}"
            f"{before[key] / after[key]:>9.1f}x"
        )


if __name__ == "__main__":
    main()
