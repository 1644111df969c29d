"""A real demo: the local Propexo sandbox, then spec, check and two syncs.

demo/tours.csv stands for a warehouse export of tours (property-local Chicago times, a few bad
rows) for two PMSs: most rows book in the configured ResMan integration, five name an Entrata
integration, which reads times as America/Denver wall clock and requires notes (one of them
has none, so it is rejected naming the field and Entrata); demo/tours-rescheduled.csv is the
same export a day later, after five tours (one of them Entrata's) changed time. Between the
two syncs, Propexo's data sync runs (Entrata's new appointments show only after it). Each
file is turned into the Airbyte messages a source would send (a STATE every 10 rows) and
piped into the connector's own command line, exactly as Airbyte runs it. The stream is
append_dedup with primary key lead_id (one upcoming tour per lead): the first sync books the
tours, the second moves the five that changed and books nothing twice.
"""

from __future__ import annotations

import collections
import csv
import datetime as dt
import json
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pendulum

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "demo-output"
CONNECTOR = [sys.executable, "-m", "destination_propexo.run"]
STATE_EVERY = 10
ZONE = "America/Chicago"


def start_sandbox() -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "propexo_sandbox", "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline().strip()
    if "http://" not in line:
        process.kill()
        raise SystemExit(f"the sandbox did not start: {line!r}")
    return process, line[line.index("http://") :]


def messages(csv_path: Path) -> Iterator[dict[str, Any]]:
    with csv_path.open(newline="") as handle:
        for number, row in enumerate(csv.DictReader(handle), start=1):
            data = {column: (value if value != "" else None) for column, value in row.items()}
            yield {"type": "RECORD", "record": {"stream": "tours", "data": data, "emitted_at": 0}}
            if number % STATE_EVERY == 0:
                yield state(number)
    if number % STATE_EVERY:
        yield state(number)


def state(row: int) -> dict[str, Any]:
    return {
        "type": "STATE",
        "state": {
            "type": "STREAM",
            "stream": {"stream_descriptor": {"name": "tours"}, "stream_state": {"row": row}},
        },
    }


def run(
    command: str, *args: str, stdin: bytes | None = None, name: str | None = None
) -> list[dict[str, Any]]:
    result = subprocess.run(
        [*CONNECTOR, command, *args], input=stdin, capture_output=True, check=False
    )
    (OUT / f"{name or command}.jsonl").write_bytes(result.stdout)
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    if result.returncode != 0:
        print(f"{command} exited {result.returncode}")
    return lines


def main() -> int:
    OUT.mkdir(exist_ok=True)
    sandbox, url = start_sandbox()
    try:
        print(f"Local Propexo sandbox at {url}\n")
        config = {
            "token": "sandbox-token",
            "integration_id": "intg-sandbox-resman",
            "api_url": url,
            "source_timezone": ZONE,
            "requests_per_minute": 600,
            # Entrata requires a duration and an appointment type; ResMan takes neither.
            "default_duration_minutes": 30,
            "default_appointment_type": "TOUR",
        }
        catalog = {
            "streams": [
                {
                    "stream": {
                        "name": "tours",
                        "json_schema": {},
                        "supported_sync_modes": ["full_refresh"],
                    },
                    "sync_mode": "full_refresh",
                    "destination_sync_mode": "append_dedup",
                    # One upcoming tour per lead: a row whose time changed moves the tour.
                    "primary_key": [["lead_id"]],
                }
            ]
        }
        (OUT / "config.json").write_text(json.dumps(config, indent=2))
        (OUT / "catalog.json").write_text(json.dumps(catalog, indent=2))

        spec = run("spec")[0]["spec"]["connectionSpecification"]["properties"]
        print(f"spec:  {len(spec)} options: {', '.join(spec)}")
        status = run("check", "--config", str(OUT / "config.json"))[-1]["connectionStatus"]
        print(f"check: {status['status']}: {status.get('message')}\n")

        print("== First sync: demo/tours.csv (ResMan and Entrata rows) ==")
        output = write("tours.csv", "write")
        show_vendors(output)
        show_write(output)
        first = appointments(url)
        print(f"\nThe sandbox now holds {len(first)} appointments.\n")
        # Entrata's new appointments show in Propexo only after its next data sync (~12 h),
        # which runs between two syncs of a day apart.
        data_sync = urllib.request.Request(f"{url}/_sandbox/data-sync", method="POST")  # noqa: S310
        urllib.request.urlopen(data_sync).close()  # noqa: S310
        first = appointments(url)
        print(f"Propexo's data sync ran: {len(first)} appointments read back.\n")

        print("== Second sync: demo/tours-rescheduled.csv (five tours changed time) ==")
        output = write("tours-rescheduled.csv", "write-rescheduled")
        show_moves(output)
        show_write(output)
        second = appointments(url)
        per_lead = collections.Counter(lead for a in second for lead in a["associated_lead_ids"])
        twice = sorted(lead for lead, count in per_lead.items() if count > 1)
        print(
            f"\nThe sandbox still holds {len(second)} appointments "
            f"({len(second) - len(first)} new); leads with two tours: {', '.join(twice) or 'none'}."
        )
        print(f"Files: {OUT}")
    finally:
        sandbox.terminate()
        sandbox.wait(timeout=10)
    return 0


def write(csv_name: str, name: str) -> list[dict[str, Any]]:
    """One sync of a demo CSV file through the connector's `write`."""
    stdin = b"".join(json.dumps(m).encode() + b"\n" for m in messages(ROOT / "demo" / csv_name))
    (OUT / f"input-{name}.jsonl").write_bytes(stdin)
    args = ("--config", str(OUT / "config.json"), "--catalog", str(OUT / "catalog.json"))
    return run("write", *args, stdin=stdin, name=name)


def appointments(url: str) -> list[dict[str, Any]]:
    with urllib.request.urlopen(f"{url}/_sandbox/appointments") as answer:  # noqa: S310
        booked: list[dict[str, Any]] = json.load(answer)["appointments"]
    return booked


def outcomes(output: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    prefix = "record outcome: "
    for message in output:
        if message["type"] == "LOG" and message["log"]["message"].startswith(prefix):
            yield json.loads(message["log"]["message"].removeprefix(prefix))


def show_moves(output: list[dict[str, Any]]) -> None:
    print("write: tours moved")
    for outcome in sorted(outcomes(output), key=lambda o: o["line"]):
        if outcome["outcome"] == "accepted" and outcome["how"] == "rescheduled":
            print(
                f"  {outcome['lead_id']}  {outcome['event_id']}  "
                f"{local(outcome['moved_from'])} -> {local(outcome['moved_to'])} (Chicago), "
                f"{outcome['write_status']}"
            )
    hows = collections.Counter(o["how"] for o in outcomes(output) if o["outcome"] == "accepted")
    print("  accepted: " + ", ".join(f"{how} {n}" for how, n in sorted(hows.items())))


def show_vendors(output: list[dict[str, Any]]) -> None:
    print("write: booked per PMS, and the wall clock each PMS got for its first tour")
    seen: dict[str, list[dict[str, Any]]] = collections.defaultdict(list)
    for outcome in sorted(outcomes(output), key=lambda o: o["line"]):
        if outcome["outcome"] == "accepted":
            seen[outcome["vendor"]].append(outcome)
    for vendor, booked in seen.items():
        first = booked[0]
        print(
            f"  {vendor}: {len(booked)} booked; e.g. {first['lead_id']} sent as "
            f"{first['sent_date']} {first['sent_time']} ({first['time_rule']})"
        )


def local(utc: str) -> str:
    # pendulum (the connector's own zone data), so no system tz database is needed.
    moment = dt.datetime.fromisoformat(utc.replace("Z", "+00:00"))
    return pendulum.instance(moment).in_timezone(ZONE).strftime("%a %b %d %H:%M")


def show_write(output: list[dict[str, Any]]) -> None:
    print("write: rejected records")
    for outcome in sorted(outcomes(output), key=lambda o: o["line"]):
        if outcome["outcome"] == "rejected":
            print(f"  line {outcome['line']:>3}  {outcome['reason']}")
    print("write: states echoed")
    for message in output:
        if message["type"] == "STATE":
            stats = message["state"]["destinationStats"]
            row = message["state"]["stream"]["stream_state"]["row"]
            print(
                f"  up to row {row:>2}: accepted {stats['recordCount']}, "
                f"rejected {stats['rejectedRecordCount']}"
            )
    for message in output:
        if message["type"] == "LOG" and message["log"]["message"].startswith("write summary"):
            print("\n" + message["log"]["message"].replace("; ", "\n  "))
        if message["type"] == "TRACE":
            print("TRACE:", message["trace"]["error"]["message"])


if __name__ == "__main__":
    sys.exit(main())
