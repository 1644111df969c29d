"""Run the sandbox: `python -m propexo_sandbox --port 8765`."""

from __future__ import annotations

import argparse
import signal
import threading

from propexo_sandbox.server import Sandbox


def main(argv: list[str] | None = None) -> int:
    """Serve until SIGTERM or SIGINT."""
    parser = argparse.ArgumentParser(prog="python -m propexo_sandbox", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to bind")
    parser.add_argument("--port", type=int, default=8765, help="0 picks a free port")
    parser.add_argument("--token", default="sandbox-token", help="the accepted bearer token")
    parser.add_argument(
        "--latency", type=float, default=0.0, help="seconds added to every API answer"
    )
    parser.add_argument(
        "--rate-limit", type=int, default=0, help="requests per minute; 0 means no limit"
    )
    parser.add_argument(
        "--slowdown-seconds", type=float, default=2.0, help="delay past 80%% of the budget"
    )
    parser.add_argument(
        "--write-status-delay", type=float, default=0.3, help="seconds a job stays PENDING"
    )
    parser.add_argument("--verbose", action="store_true", help="log every HTTP request to stderr")
    args = parser.parse_args(argv)
    try:
        sandbox = Sandbox(
            host=args.host,
            port=args.port,
            token=args.token,
            latency=args.latency,
            rate_limit_per_minute=args.rate_limit or None,
            slowdown_seconds=args.slowdown_seconds,
            write_status_delay=args.write_status_delay,
            access_log=args.verbose,
        )
    except ValueError as exc:
        parser.error(str(exc))
    stopping = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopping.set())
    with sandbox:
        print(f"sandbox listening on {sandbox.url}", flush=True)
        stopping.wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
