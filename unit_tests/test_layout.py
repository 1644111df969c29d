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


def imported_modules(path: Path, package: Path = PACKAGE) -> list[str]:
    """Every module `path` (a file under `package`) imports, relative imports resolved."""
    tree = ast.parse(path.read_text(), filename=str(path))
    here = [package.name, *path.relative_to(package).parts[:-1]]
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = here[: len(here) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            names.append(module)
            names += [f"{module}.{alias.name}" for alias in node.names]
    return names


def upward_imports(package: Path) -> list[str]:
    """`file imports module` for each import of `package` that reaches up a layer."""
    upward: list[str] = []
    for path in sorted(package.rglob("*.py")):
        here = layer_of(path.relative_to(package).parts)
        for name in imported_modules(path, package):
            parts = name.split(".")
            if parts[0] != "destination_propexo" or len(parts) < 2:
                continue
            if (package / parts[1]).is_dir() or (package / f"{parts[1]}.py").exists():
                there = layer_of((parts[1],))
                if there < here:
                    upward.append(f"{path.relative_to(package)} imports {name}")
    return upward


def test_at_most_eight_modules_at_the_top() -> None:
    top = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(top) <= 8, top


def test_every_folder_is_a_layer_of_the_map() -> None:
    for path in PACKAGE.rglob("*.py"):
        layer_of(path.relative_to(PACKAGE).parts)


def test_imports_only_go_down_the_layers() -> None:
    assert upward_imports(PACKAGE) == []


def test_a_relative_import_up_a_layer_is_caught_too(tmp_path: Path) -> None:
    package = tmp_path / "destination_propexo"
    (package / "outputs").mkdir(parents=True)
    (package / "sync").mkdir()
    (package / "outputs" / "probe.py").write_text(
        "from ..sync import writer\nfrom . import rejection\nfrom .. import config\n"
    )
    assert upward_imports(package) == [
        "outputs/probe.py imports destination_propexo.sync",
        "outputs/probe.py imports destination_propexo.sync.writer",
    ]


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
