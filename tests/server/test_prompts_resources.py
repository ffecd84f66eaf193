"""Workflow prompts and resource templates, listed and rendered through a real client."""

from __future__ import annotations

import json
from typing import Any

import httpx2
import mcp_types as types
import pytest
from mcp.client import Client
from mcp.shared.exceptions import MCPError

from polar_orders_mcp.emulator.app import create_app
from polar_orders_mcp.prompts.workflows import PROMPTS
from polar_orders_mcp.server.app import build_server
from polar_orders_mcp.settings import Settings
from polar_orders_mcp.tools.registry import ALL_TOOLS

pytestmark = pytest.mark.anyio

TOOL_NAMES = {tool.name for tool in ALL_TOOLS}
ARGS = {
    "investigate_order_complaint": {"customer_email": "ada@example.com", "complaint": "charged twice"},
    "charge_saved_card": {"customer_email": "ada@example.com", "product": "Starter Pack"},
    "fix_billing_and_invoice": {"order_id": "00000000-0000-4000-8000-000000000000"},
    "send_checkout_link": {"customer_email": "ada@example.com", "products": "Starter Pack"},
    "summarize_sales": {"start": "2026-10-01T00:00:00Z", "end": "2026-11-01T00:00:00Z"},
    "refund_order": {"order_id": "00000000-0000-4000-8000-000000000000", "total": "625"},
    "handle_dispute": {"dispute_id": "00000000-0000-4000-8000-000000000000"},
}


@pytest.fixture
def emulator() -> Any:
    return create_app(orders=10)


@pytest.fixture
def server(emulator: Any) -> Any:
    return build_server(Settings(emulator=True), transport=httpx2.ASGITransport(app=emulator))


async def test_prompts_are_listed_and_name_real_tools_in_order(server: Any) -> None:
    async with Client(server) as client:
        listed = (await client.list_prompts()).prompts
        assert {p.name for p in listed} == {p.fn.__name__ for p in PROMPTS}
        assert len(listed) >= 5
        for prompt in listed:
            rendered = await client.get_prompt(prompt.name, ARGS[prompt.name])
            text = rendered.messages[0].content
            assert isinstance(text, types.TextContent)
            named = [name for name in TOOL_NAMES if f"{name}(" in text.text]
            assert len(named) >= 1, prompt.name
            for name in named:
                assert name in TOOL_NAMES


async def test_the_after_sales_prompts_walk_through_their_tools_in_order(server: Any) -> None:
    async with Client(server) as client:
        texts = {
            name: (await client.get_prompt(name, ARGS[name])).messages[0].content
            for name in ("summarize_sales", "refund_order", "handle_dispute")
        }
    text = {name: content.text for name, content in texts.items() if isinstance(content, types.TextContent)}

    def order_of(name: str, *tools: str) -> list[int]:
        return [text[name].index(f"{tool}(") for tool in tools]

    assert "export_orders(" not in text["summarize_sales"] and 'status=["paid"' in text["summarize_sales"]
    assert 'summarize_orders(created_after="2026-10-01T00:00:00Z"' in text["summarize_sales"]
    steps = order_of("refund_order", "get_order", "list_refunds", "create_refund")
    assert steps == sorted(steps) and "total=625" in text["refund_order"]
    steps = order_of("handle_dispute", "get_dispute", "get_order", "list_refunds", "accept_dispute")
    assert steps == sorted(steps) and "needs_response" in text["handle_dispute"]


async def test_resource_templates_read_the_same_views(server: Any, emulator: Any) -> None:
    seed = emulator.state.emulator.seed_info
    async with Client(server) as client:
        templates = (await client.list_resource_templates()).resource_templates
        assert {t.uri_template for t in templates} == {
            "polar://orders/{id}",
            "polar://checkouts/{id}",
            "polar://customers/{id}",
        }
        order = await client.read_resource(f"polar://orders/{seed.paid_order_id}")
        tool = await client.call_tool("get_order", {"order_id": seed.paid_order_id})
        checkout = await client.read_resource(f"polar://checkouts/{seed.open_checkout_id}")
        customer = await client.read_resource(f"polar://customers/{seed.customers['good_card']}")
    body = json.loads(order.contents[0].text)  # type: ignore[union-attr]
    assert body == tool.structured_content
    assert json.loads(checkout.contents[0].text)["id"] == seed.open_checkout_id  # type: ignore[union-attr]
    assert json.loads(customer.contents[0].text)["payment_methods"]  # type: ignore[union-attr]


async def test_a_bad_resource_id_is_a_clear_error(server: Any) -> None:
    async with Client(server) as client:
        with pytest.raises(MCPError, match="not a Polar order id"):
            await client.read_resource("polar://orders/not-a-uuid")
        with pytest.raises(MCPError):
            await client.read_resource("polar://orders/..%2F..%2Fetc")
