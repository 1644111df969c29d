"""The package's map (docs/design.md): a few modules at the top, layers in folders, and
imports that only go down the layers. The sandbox is a package of its own, never imported by
the connector."""

from __future__ import annotations

import ast
import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "destination_propexo"

# Top to bottom: a module may import its own layer and any layer below it, never one above.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("run", "destination"),  # the command line and the CDK-facing entry points
    ("sync",),  # one write: session, pipeline, booking, ledger, confirmation, report
    ("outputs",),  # where rejected rows go: file, object storage
    ("config",),  # the typed configuration
    ("propexo",),  # the Propexo API: client, rate budget, in-flight bound, retry
    ("airbyte",),  # protocol messages, catalog, discover
    ("records",),  # record -> request, time zones, outcomes (pure)
    ("errors", "stop", "workers", "__init__"),  # the exception tree, the stop, the threads
)


def layer_of(parts: tuple[str, ...]) -> int:
    name = parts[0].removesuffix(".py")
    for rank, members in enumerate(LAYERS):
        if name in members:
            return rank
    raise AssertionError(f"destination_propexo/{'/'.join(parts)} is in no layer of the map")


def imported_modules(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
            names += [f"{node.module}.{alias.name}" for alias in node.names]
    return names


def test_at_most_eight_modules_at_the_top() -> None:
    top = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(top) <= 8, top


def test_every_folder_is_a_layer_of_the_map() -> None:
    for path in PACKAGE.rglob("*.py"):
        layer_of(path.relative_to(PACKAGE).parts)


def test_imports_only_go_down_the_layers() -> None:
    upward: list[str] = []
    for path in sorted(PACKAGE.rglob("*.py")):
        here = layer_of(path.relative_to(PACKAGE).parts)
        for name in imported_modules(path):
            parts = name.split(".")
            if parts[0] != "destination_propexo" or len(parts) < 2:
                continue
            if (PACKAGE / parts[1]).is_dir() or (PACKAGE / f"{parts[1]}.py").exists():
                there = layer_of((parts[1],))
                if there < here:
                    upward.append(f"{path.relative_to(PACKAGE)} imports {name}")
    assert upward == []


def test_the_connector_never_imports_the_sandbox() -> None:
    users = [
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if any(name.startswith("propexo_sandbox") for name in imported_modules(path))
    ]
    assert users == []


def test_the_design_maps_module_table_names_every_module_by_its_path() -> None:
    design = (PACKAGE.parent / "docs" / "design.md").read_text(encoding="utf-8")
    listed = set(re.findall(r"^\| `([\w/]+\.py|[\w/]+/)` \|", design, flags=re.MULTILINE))
    modules = {
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if path.name != "__init__.py"
    }
    assert modules - listed == set(), "modules missing from the map in docs/design.md"
    assert {name for name in listed if name.endswith(".py")} - modules == set(), "no such module"
