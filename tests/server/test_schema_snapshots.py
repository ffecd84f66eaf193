"""Tools are public API: every tool as listed (title, description, annotations, input and output schema), in both
protocol eras, equals its snapshot in tests/schemas/. A change is reviewed as a diff: `make schemas`
(python -m tests.update_schemas)."""

from __future__ import annotations

import difflib

import mcp_types
import pytest

from tests.update_schemas import MODES, SIZES, SNAPSHOTS, current, render, sizes, snapshot

pytestmark = pytest.mark.anyio

UPDATE = "If the change is meant, run `make schemas` (python -m tests.update_schemas) and commit the diff."


async def test_every_tool_schema_matches_its_snapshot() -> None:
    files = await current()
    kept = {str(path.relative_to(SNAPSHOTS)) for mode in MODES for path in (SNAPSHOTS / mode).glob("*.json")}
    assert sorted(set(files) - kept) == [], f"tools without a snapshot. {UPDATE}"
    assert sorted(kept - set(files)) == [], f"snapshots of tools that no longer exist. {UPDATE}"
    for path, content in sorted(files.items()):
        expected = (SNAPSHOTS / path).read_text()
        actual = render(content)
        diff = "".join(difflib.unified_diff(expected.splitlines(True), actual.splitlines(True), path, "now", n=2))
        assert actual == expected, f"the tool {path} changed. {UPDATE}\n{diff}"


def test_a_snapshot_holds_what_the_model_reads_of_a_tool() -> None:
    """Not only the schemas: a reworded description, a new title or a changed hint shows in review too."""
    tool = mcp_types.Tool(
        name="get_order",
        title="Get order",
        description="One order.\nUse list_orders to find one.",
        input_schema={"type": "object"},
        output_schema={"type": "object", "properties": {}},
        annotations=mcp_types.ToolAnnotations(title="Get order", read_only_hint=True, destructive_hint=False),
    )
    assert snapshot(tool) == {
        "title": "Get order",
        "description": ["One order.", "Use list_orders to find one."],
        "annotations": {"title": "Get order", "readOnlyHint": True, "destructiveHint": False},
        "input": {"type": "object"},
        "output": {"type": "object", "properties": {}},
    }


async def test_the_tool_lists_size_matches_its_snapshot() -> None:
    assert render(await sizes()) == SIZES.read_text(), f"the tool list's size changed. {UPDATE}"
