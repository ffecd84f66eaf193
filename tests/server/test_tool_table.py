"""The tool table is the public API: every tool has a tier, and its hints follow from it."""

from __future__ import annotations

import anyio
import pytest
from mcp.client import Client

from polar_orders_mcp.server.app import build_server
from polar_orders_mcp.settings import Settings
from polar_orders_mcp.tools.base import TIERS
from polar_orders_mcp.tools.registry import ALL_TOOLS, CUSTOMER_TOOLS, TOOLSETS

HINTS = ("read_only_hint", "destructive_hint", "idempotent_hint", "open_world_hint")


def _listed_tools() -> list:
    server = build_server(Settings(access_token="polar_oat_test", server="http://127.0.0.1:9"))

    async def listing() -> list:
        async with Client(server) as client:
            return (await client.list_tools()).tools

    return anyio.run(listing)


def test_every_tool_has_a_known_tier_and_a_unique_name() -> None:
    names = [tool.name for tool in ALL_TOOLS]
    assert len(names) == len(set(names))
    for tool in ALL_TOOLS:
        assert tool.tier in TIERS, tool.name
        assert tool.toolset in TOOLSETS, tool.name
    assert {t.toolset for t in (*ALL_TOOLS, *CUSTOMER_TOOLS)} == set(TOOLSETS)


@pytest.mark.parametrize("tool", _listed_tools(), ids=lambda t: t.name)
def test_every_tool_states_all_four_hints_in_agreement_with_its_tier(tool: object) -> None:
    entry = next(t for t in ALL_TOOLS if t.name == tool.name)  # type: ignore[attr-defined]
    hints = tool.annotations.model_dump()  # type: ignore[attr-defined]
    assert all(isinstance(hints[h], bool) for h in HINTS), f"{entry.name} leaves a hint unset: {hints}"
    assert hints["read_only_hint"] is (entry.tier == "read")
    assert hints["destructive_hint"] is (entry.tier == "irreversible")
    if entry.tier != "write":
        assert hints["idempotent_hint"] is (entry.tier == "read")
    assert hints["open_world_hint"] is True


@pytest.mark.parametrize("tool", _listed_tools(), ids=lambda t: t.name)
def test_every_tool_is_described_for_an_agent(tool: object) -> None:
    description = tool.description or ""  # type: ignore[attr-defined]
    assert 40 < len(description) < 600, tool.name  # type: ignore[attr-defined]
    assert tool.output_schema, f"{tool.name} has no structured output"  # type: ignore[attr-defined]


def test_irreversible_tools_take_an_approval_id_and_an_amount_only_to_refund_less() -> None:
    irreversible = set()
    for tool in _listed_tools():
        entry = next(t for t in ALL_TOOLS if t.name == tool.name)
        properties = tool.input_schema["properties"]
        if entry.tier == "irreversible":
            irreversible.add(tool.name)
            assert "approval_id" in properties, tool.name
            assert "approval_id" not in tool.input_schema.get("required", []), tool.name
            # What is charged comes from Polar, never from the model. A refund's amount can only be less than
            # what Polar still allows, and the person approving sees it.
            assert ("amount" in properties) == (tool.name == "create_refund"), tool.name
    assert irreversible == {
        "finalize_order", "confirm_checkout", "create_refund", "revoke_subscription", "accept_dispute",
    }
