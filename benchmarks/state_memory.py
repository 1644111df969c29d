"""Peak memory of the real CLI with many STATEs queued behind one pending record.

One record whose write job stays PENDING for 15 s (ResMan slow), then 40,000 STATE messages
of 2 KB each (about 80 MB of input) and 100 more records: the STATEs cannot be echoed until
the first record is final, so the connector must stop reading rather than hold them all
(a held STATE counts toward the window like a record). Then one 100 MB line, refused
without being held whole, and one STATE just under the 16 MiB limit, echoed (read over
some 256 reads of stdin, joined once). Prints the connector process's peak RSS (VmHWM) for each;
never asserts: `python benchmarks/state_memory.py`.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from destination_propexo.airbyte.protocol import MAX_LINE_BYTES
from propexo_sandbox import Sandbox

STATES = 40_000
STATE_BYTES = 2_048
TOKEN = "bench-token"  # noqa: S105  # the sandbox's own, no secret


def tour(lead: str) -> bytes:
    data = {
        "lead_id": lead,
        "lead_source_id": "src",
        "appointment_date": "2041-07-20",
        "appointment_time": "14:00",
    }
    message = {"type": "RECORD", "record": {"stream": "tours", "data": data, "emitted_at": 0}}
    return json.dumps(message).encode() + b"\n"


def state(cursor: int) -> bytes:
    pad = "x" * (STATE_BYTES - 120)
    message = {
        "type": "STATE",
        "state": {"type": "LEGACY", "data": {"cursor": cursor, "pad": pad}},
    }
    return json.dumps(message).encode() + b"\n"


def run(sandbox: Sandbox, feed: bytes, directory: Path) -> tuple[float, int, float, int]:
    """Peak RSS (MB), exit code, seconds, STATEs echoed."""
    config = {
        "token": TOKEN,
        "integration_id": "intg-sandbox-resman",
        "api_url": sandbox.url,
        "requests_per_minute": 6000,
        "write_status_timeout_seconds": 60,
    }
    (directory / "config.json").write_text(json.dumps(config))
    catalog = {"streams": [{"stream": {"name": "tours"}, "destination_sync_mode": "append"}]}
    (directory / "catalog.json").write_text(json.dumps(catalog))
    started = time.monotonic()
    files = [
        "--config",
        str(directory / "config.json"),
        "--catalog",
        str(directory / "catalog.json"),
    ]
    process = subprocess.Popen(
        [sys.executable, "-m", "destination_propexo.run", "write", *files],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    echoed, high_water = [0], [0]

    def watch() -> None:
        # VmHWM: the process's peak RSS since its exec (wait4's figure would count this
        # process's pages from before the exec of a forked child).
        status = Path(f"/proc/{process.pid}/status")
        while process.poll() is None:
            with contextlib.suppress(OSError):
                for line in status.read_text().splitlines():
                    if line.startswith("VmHWM:"):
                        high_water[0] = max(high_water[0], int(line.split()[1]))
            time.sleep(0.02)

    watcher = threading.Thread(target=watch)
    watcher.start()

    def count() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            echoed[0] += line.startswith(b'{"type":"STATE"')

    reader = threading.Thread(target=count)
    reader.start()
    assert process.stdin is not None
    try:
        process.stdin.write(feed)
        process.stdin.close()
    except BrokenPipeError:
        pass
    code = process.wait()
    reader.join()
    watcher.join()
    return (
        high_water[0] / 1024,
        code,
        time.monotonic() - started,
        echoed[0],
    )


def main() -> None:
    with (
        tempfile.TemporaryDirectory() as tmp,
        Sandbox(token=TOKEN, write_status_delay=15.0) as sandbox,
    ):
        feed = tour("lead-slow") + b"".join(state(n) for n in range(STATES))
        feed += b"".join(tour(f"lead-{n}") for n in range(100)) + state(STATES)
        peak, code, took, echoed = run(sandbox, feed, Path(tmp))
        print(
            f"{STATES:,} STATEs of {STATE_BYTES:,} B ({len(feed) / 1e6:.0f} MB in) behind one "
            f"job PENDING 15 s: peak RSS {peak:.0f} MB, exit {code}, {took:.1f} s, "
            f"{echoed:,} STATEs echoed"
        )
    with tempfile.TemporaryDirectory() as tmp, Sandbox(token=TOKEN) as sandbox:
        line = b'{"type": "RECORD", "record": {"stream": "tours", "data": {"notes": "'
        line += b"x" * 100_000_000 + b'"}, "emitted_at": 0}}\n'
        peak, code, took, _ = run(sandbox, tour("lead-1") + line, Path(tmp))
        print(f"one 100 MB line: peak RSS {peak:.0f} MB, exit {code}, {took:.1f} s")
    with tempfile.TemporaryDirectory() as tmp, Sandbox(token=TOKEN) as sandbox:
        pad = b"x" * (MAX_LINE_BYTES - 100)
        line = b'{"type": "STATE", "state": {"type": "LEGACY", "data": {"pad": "%s"}}}\n' % pad
        peak, code, took, echoed = run(sandbox, tour("lead-1") + line, Path(tmp))
        print(
            f"one STATE of {len(line) / 2**20:.1f} MiB: peak RSS {peak:.0f} MB, exit {code}, "
            f"{took:.1f} s, {echoed} echoed"
        )


if __name__ == "__main__":
    main()
