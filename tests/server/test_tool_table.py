"""The tool table is the public API: every tool has a tier, and its hints follow from it."""

from __future__ import annotations

import re

import anyio
import pytest
from mcp.client import Client

from polar_orders_mcp.server.app import build_server
from polar_orders_mcp.settings import Settings
from polar_orders_mcp.tools.base import TIERS
from polar_orders_mcp.tools.registry import ALL_TOOLS, CUSTOMER_TOOLS
from polar_orders_mcp.tools.toolsets import TOOLSET_NAMES as TOOLSETS

HINTS = ("read_only_hint", "destructive_hint", "idempotent_hint", "open_world_hint")


def _listed_tools(**settings: object) -> list:
    server = build_server(
        Settings(access_token="polar_oat_test", server="http://127.0.0.1:9", **{"toolsets": ["all"], **settings})
    )

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
    assert 40 < len(description) < 300, tool.name  # type: ignore[attr-defined]
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
            assert ("total" in properties) == (tool.name == "create_refund"), tool.name
    assert irreversible == {t.name for t in ALL_TOOLS if t.tier == "irreversible"}


def test_the_tools_that_move_money_are_these_five() -> None:
    # The one list of them written by hand, on purpose: a tool that moves money is added, or leaves the approval
    # flow (its tier changed to write), only by changing this line in review.
    assert {t.name for t in ALL_TOOLS if t.tier == "irreversible"} == {
        "finalize_order",
        "confirm_checkout",
        "create_refund",
        "revoke_subscription",
        "accept_dispute",
    }


DEFAULT = [
    "list_orders",
    "get_order",
    "update_order",
    "get_receipt",
    "generate_invoice",
    "get_invoice",
    "create_order",
    "finalize_order",
    "create_checkout",
    "list_checkouts",
    "get_checkout",
    "update_checkout",
    "find_customers",
    "get_customer",
    "list_products",
    "list_refunds",
    "get_refund",
    "create_refund",
]


def test_without_toolsets_the_server_lists_the_default_ones_in_toolset_order() -> None:
    assert [t.name for t in _listed_tools(toolsets=[])] == DEFAULT


def test_every_toolset_but_the_defaults_is_opt_in() -> None:
    with_subscriptions = [t.name for t in _listed_tools(toolsets=["default", "subscriptions"])]
    assert with_subscriptions == [
        *DEFAULT,
        "list_subscriptions",
        "get_subscription",
        "cancel_subscription",
        "uncancel_subscription",
        "revoke_subscription",
    ]
    assert [t.name for t in _listed_tools(toolsets=["checkout_page"])] == [
        "get_checkout_by_secret",
        "update_checkout_by_secret",
        "confirm_checkout",
    ]
    everything = [t.name for t in _listed_tools(toolsets=["all"])]
    assert sorted(everything) == sorted(t.name for t in ALL_TOOLS)
    assert everything[: len(DEFAULT)] == DEFAULT


def test_tools_named_by_tools_are_served_whatever_their_toolset() -> None:
    assert [t.name for t in _listed_tools(toolsets=[], tools=["accept_dispute", "get_order"])] == [
        "get_order",
        "accept_dispute",
    ]


def test_serve_help_describes_every_toolset(capsys: pytest.CaptureFixture[str]) -> None:
    from polar_orders_mcp.cli import main

    with pytest.raises(SystemExit):
        main(["serve", "--help"])
    shown = capsys.readouterr().out
    for name in TOOLSETS:
        assert f"  {name} " in shown, name
    assert "subscriptions      opt-in" in shown and "orders             default" in shown


def test_the_instructions_name_the_tools_that_cannot_be_undone_from_the_table() -> None:
    from polar_orders_mcp.server.app import INSTRUCTIONS

    said = re.search(r"^- (.+) cannot be undone\.", INSTRUCTIONS, re.MULTILINE)
    assert said is not None
    assert set(re.split(r", | and ", said.group(1))) == {t.name for t in ALL_TOOLS if t.tier == "irreversible"}
