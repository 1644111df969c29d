"""The digest of the image build context, printed for scripts/image.sh.

`scripts/image.sh` labels each image it builds with this digest (LABEL below), and
`integration_tests/test_image.py` tests an image only when its label is the digest of the tree
under test: podman's tags are shared by every checkout on a machine, and an image outlives the
commit it was built from, so an image of another tree is never tested as this one.

The context is what `.dockerignore` lets through, plus both Dockerfiles; caches (`__pycache__`,
`*.pyc`) are left out as the build leaves them out.

    python scripts/build_context.py     # prints sha256:<64 hex digits>
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Iterator
from pathlib import Path

CONTEXT = (
    "Dockerfile",
    "Dockerfile.airbyte",
    "README.md",
    "destination_propexo",
    "pyproject.toml",
    "scripts/uv-requirements.txt",
    "uv.lock",
)
LABEL = "io.destination-propexo.build-context"


def _files(root: Path) -> Iterator[Path]:
    for name in CONTEXT:
        path = root / name
        if path.is_dir():
            yield from (
                found
                for found in path.rglob("*")
                if found.is_file()
                and "__pycache__" not in found.relative_to(root).parts
                and found.suffix != ".pyc"
            )
        elif path.is_file():
            yield path


def digest(root: Path) -> str:
    """sha256 over each file's path (relative to `root`) and bytes, in path order."""
    summary = hashlib.sha256()
    for path in sorted(_files(root), key=lambda found: found.relative_to(root).as_posix()):
        name = path.relative_to(root).as_posix().encode()
        body = path.read_bytes()
        summary.update(b"%d:%s%d:" % (len(name), name, len(body)))
        summary.update(body)
    return f"sha256:{summary.hexdigest()}"


if __name__ == "__main__":
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent
    print(digest(root))
