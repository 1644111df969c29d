"""A real demo sync: the local Propexo sandbox, then spec, check and write on demo/tours.csv.

The CSV stands for a warehouse export of tours (property-local Chicago times, a few bad
rows). It is turned into the Airbyte messages a source would send (a STATE every 10 rows)
and piped into the connector's own command line, exactly as Airbyte runs it.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "demo-output"
CONNECTOR = [sys.executable, "-m", "destination_propexo.run"]
STATE_EVERY = 10


def start_sandbox() -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "destination_propexo.sandbox", "--port", "0"],
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


def run(command: str, *args: str, stdin: bytes | None = None) -> list[dict[str, Any]]:
    result = subprocess.run(
        [*CONNECTOR, command, *args], input=stdin, capture_output=True, check=False
    )
    (OUT / f"{command}.jsonl").write_bytes(result.stdout)
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
            "source_timezone": "America/Chicago",
            "requests_per_minute": 600,
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
                }
            ]
        }
        (OUT / "config.json").write_text(json.dumps(config, indent=2))
        (OUT / "catalog.json").write_text(json.dumps(catalog, indent=2))
        stdin = b"".join(json.dumps(m).encode() + b"\n" for m in messages(ROOT / "demo/tours.csv"))
        (OUT / "input.jsonl").write_bytes(stdin)

        spec = run("spec")[0]["spec"]["connectionSpecification"]["properties"]
        print(f"spec:  {len(spec)} options: {', '.join(spec)}")
        status = run("check", "--config", str(OUT / "config.json"))[-1]["connectionStatus"]
        print(f"check: {status['status']}: {status.get('message')}\n")

        output = run(
            "write",
            "--config",
            str(OUT / "config.json"),
            "--catalog",
            str(OUT / "catalog.json"),
            stdin=stdin,
        )
        show_write(output)
        with urllib.request.urlopen(f"{url}/_sandbox/appointments") as answer:  # noqa: S310
            booked = json.load(answer)["appointments"]
        print(f"\nThe sandbox now holds {len(booked)} appointments. Files: {OUT}")
    finally:
        sandbox.terminate()
        sandbox.wait(timeout=10)
    return 0


def show_write(output: list[dict[str, Any]]) -> None:
    print("write: rejected records")
    for message in output:
        if message["type"] == "LOG" and message["log"]["message"].startswith("record outcome: "):
            outcome = json.loads(message["log"]["message"].removeprefix("record outcome: "))
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
