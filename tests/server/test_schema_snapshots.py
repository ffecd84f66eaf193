"""Tool schemas are public API: every tool's input and output schema, in both protocol eras, equals its
snapshot in tests/schemas/. A change is reviewed as a diff: `make schemas` (python -m tests.update_schemas)."""

from __future__ import annotations

import difflib

import pytest

from tests.update_schemas import MODES, SIZES, SNAPSHOTS, current, render, sizes

pytestmark = pytest.mark.anyio

UPDATE = "If the change is meant, run `make schemas` (python -m tests.update_schemas) and commit the diff."


async def test_every_tool_schema_matches_its_snapshot() -> None:
    files = await current()
    kept = {str(path.relative_to(SNAPSHOTS)) for mode in MODES for path in (SNAPSHOTS / mode).glob("*.json")}
    assert sorted(set(files) - kept) == [], f"tools without a schema snapshot. {UPDATE}"
    assert sorted(kept - set(files)) == [], f"snapshots of tools that no longer exist. {UPDATE}"
    for path, content in sorted(files.items()):
        expected = (SNAPSHOTS / path).read_text()
        actual = render(content)
        diff = "".join(difflib.unified_diff(expected.splitlines(True), actual.splitlines(True), path, "now", n=2))
        assert actual == expected, f"the schema of {path} changed. {UPDATE}\n{diff}"



async def test_the_tool_lists_size_matches_its_snapshot() -> None:
    assert render(await sizes()) == SIZES.read_text(), f"the tool list's size changed. {UPDATE}"
