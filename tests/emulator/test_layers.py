"""The emulator's layers: services see only their backend, and the emulator imports nothing else of the package."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

EMULATOR = Path(__file__).parents[2] / "src" / "polar_orders_mcp" / "emulator"
SERVICES = ("orders", "checkouts", "catalog", "refunds", "subscriptions", "disputes")


def imported(module: Path) -> set[str]:
    """The modules `module` imports, relative ones written as `.name`."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(module.read_text())):
        if isinstance(node, ast.ImportFrom):
            names.add("." * node.level + (node.module or ""))
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


@pytest.mark.parametrize("service", SERVICES)
def test_a_service_imports_the_backend_not_the_whole_state(service: str) -> None:
    names = imported(EMULATOR / f"{service}.py")
    assert ".backend" in names
    assert ".state" not in names


def test_the_emulator_imports_nothing_else_of_the_package() -> None:
    for module in EMULATOR.glob("*.py"):
        outside = {name for name in imported(module) if name.startswith(("polar_orders_mcp", ".."))}
        assert outside == set(), f"{module.name} imports {sorted(outside)}"
