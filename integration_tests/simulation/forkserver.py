"""Start the connector's CLI in a fresh process without paying for the CDK import each time.

`python -m integration_tests.simulation.forkserver` imports the connector once, then, for
each request on its stdin (one JSON line: argv, env, and the paths for stdin, stdout and
stderr), forks a child that runs the console script's entry point
(`destination_propexo.run:run`, what `destination-propexo` calls) with those files as its
fds 0, 1 and 2. It answers `{"pid": ...}` at once and `{"exit": ...}` when the child ends.
The server is single-threaded, so forking it is safe; a child is a real process that
exits, takes signals and writes its own stdout. The import costs 2-3 s a run otherwise.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sys
from typing import Any

from destination_propexo.run import run


def _child(request: dict[str, Any]) -> None:
    """In the forked child: become the CLI process, then run it; never returns."""
    code = 70
    try:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        random.seed()
        os.environ.update(request["env"])
        for fd, (path, flags) in enumerate(
            [
                (request["stdin"], os.O_RDONLY),
                (request["stdout"], os.O_WRONLY),
                (request["stderr"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC),
            ]
        ):
            opened = os.open(path, flags, 0o600)
            os.dup2(opened, fd)
            os.close(opened)
        sys.stdin = open(0, encoding="utf-8", closefd=False)  # noqa: SIM115  # the process's own fd
        sys.stdout = open(1, "w", encoding="utf-8", closefd=False)  # noqa: SIM115
        sys.stderr = open(2, "w", encoding="utf-8", closefd=False)  # noqa: SIM115
        sys.argv = ["destination-propexo", *request["argv"]]
        try:
            run()
            code = 0
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        os._exit(code)


def serve() -> None:
    """Serve fork requests from stdin until it closes."""
    answers = sys.stdout
    for line in sys.stdin:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            _child(request)
        answers.write(json.dumps({"pid": pid}) + "\n")
        answers.flush()
        _, status = os.waitpid(pid, 0)
        answers.write(json.dumps({"exit": os.waitstatus_to_exitcode(status)}) + "\n")
        answers.flush()


if __name__ == "__main__":
    print(json.dumps({"ready": True}), flush=True)
    serve()
