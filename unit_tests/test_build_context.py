"""The digest of the image build context: scripts/image.sh labels each image with it and
integration_tests/test_image.py tests an image only when its label is this tree's digest
(podman's tags are shared by every checkout on a machine, and an image outlives the commit it
was built from)."""

from __future__ import annotations

import shutil
from pathlib import Path

from scripts.build_context import CONTEXT, digest

ROOT = Path(__file__).resolve().parents[1]


def tree(tmp_path: Path) -> Path:
    for name in CONTEXT:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(source, tmp_path / name)
    return tmp_path


def test_the_context_is_what_the_dockerignore_lets_through_and_the_dockerfiles() -> None:
    allowed = [
        line[1:].rstrip("/")
        for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.startswith("!")
    ]
    assert sorted(CONTEXT) == sorted([*allowed, "Dockerfile", "Dockerfile.airbyte"])


def test_a_change_to_any_file_of_the_context_changes_the_digest(tmp_path: Path) -> None:
    root = tree(tmp_path)
    before = digest(root)
    assert digest(root) == before
    spec = root / "destination_propexo" / "spec.yaml"
    spec.write_text(spec.read_text(encoding="utf-8") + "\n", encoding="utf-8")
    assert digest(root) != before
    (root / "destination_propexo" / "added.py").write_text("", encoding="utf-8")
    assert len({before, digest(root)}) == 2


def test_caches_and_files_outside_the_context_leave_it_unchanged(tmp_path: Path) -> None:
    root = tree(tmp_path)
    before = digest(root)
    (root / "destination_propexo" / "__pycache__").mkdir()
    (root / "destination_propexo" / "__pycache__" / "run.cpython-311.pyc").write_bytes(b"x")
    (root / "notes.txt").write_text("not in the image", encoding="utf-8")
    assert digest(root) == before
