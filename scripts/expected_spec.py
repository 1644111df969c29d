"""Write integration_tests/expected-spec.json: the SPEC message's `spec` as `destination-propexo
spec` prints it. Run after changing spec.yaml (`make spec-snapshot`), and commit the file with
the change: integration_tests/test_expected_spec.py fails until they agree.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SNAPSHOT = ROOT / "integration_tests" / "expected-spec.json"


def printed_spec() -> dict[str, object]:
    """The spec the connector prints, run as Airbyte runs it."""
    command = Path(sys.executable).parent / "destination-propexo"
    done = subprocess.run([str(command), "spec"], capture_output=True, check=True, timeout=120)
    (message,) = [json.loads(line) for line in done.stdout.splitlines()]
    return dict(message["spec"])


def render(spec: dict[str, object]) -> str:
    return json.dumps(spec, indent=2, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    SNAPSHOT.write_text(render(printed_spec()), encoding="utf-8")
    print(f"wrote {SNAPSHOT.relative_to(ROOT)}")
