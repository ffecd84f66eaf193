"""Over streamable HTTP, with the default toolsets: what an agent reads to answer a support question without
guessing (the tax only a draft has, a customer's card, where a subscription's order is explained, a refund's
reason)."""

from __future__ import annotations

from typing import Any

import pytest

from polar_orders_mcp.emulator.state import EmulatorState
from tests.server.test_http import http_client

pytestmark = pytest.mark.anyio


async def test_a_support_desk_reads_the_answers_over_http(mcp_over_http: Any, emulator: Any) -> None:
    state: EmulatorState = emulator.state.emulator
    seed = state.seed_info
    with mcp_over_http("http", toolsets=["default"]) as url:
        async with http_client(url, "legacy") as client:
            tools = {tool.name: tool for tool in (await client.list_tools()).tools}
            said = client.instructions or ""
            found = await client.call_tool("find_customers", {"email": "good-card@example.com"})
            order = await client.call_tool("get_order", {"order_id": seed.subscription_orders["active"]})
    assert "get_subscription" not in tools and "create_refund" in tools
    assert (found.structured_content or {})["items"][0]["default_payment_method"].startswith("visa •••• ")
    note = (order.structured_content or {})["subscription_note"]
    assert note.startswith(f"list_orders(subscription_id='{seed.subscriptions['active']}') lists its subscription's")
    assert "Polar computes tax only here" in (tools["create_order"].description or "")
    assert "other + comment" in tools["create_refund"].input_schema["properties"]["reason"]["description"]
    assert "customer_supplied, in answers, holds what" in said
