"""--log-level debug is as secret-free as the rest: no tool result, credential or email in a log line."""

from __future__ import annotations

from typing import Any

import httpx2
import pytest
from mcp.client import Client
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client

from tests.reliability.processes import child_process, clean_env

pytestmark = pytest.mark.anyio

TOKEN = "debug-logs-token-0123456789abcdef"
LEAKY_EMAIL = "leak-me@example.com"


def _client(url: str, transport: str) -> Client:
    auth = {"Authorization": f"Bearer {TOKEN}"}
    if transport == "sse":
        return Client(sse_client(f"{url}/sse", headers=auth), mode="legacy")
    http = httpx2.AsyncClient(headers=auth, timeout=30)
    return Client(streamable_http_client(f"{url}/mcp", http_client=http), mode="legacy")


async def _results_with_secrets(client: Client) -> list[str]:
    """Calls whose results hold a client secret, a customer session, a confirmation token and emails."""
    found = (await client.call_tool("find_customers", {"email": "good-card@example.com"})).structured_content
    assert found is not None
    customer = found["items"][0]
    products = (await client.call_tool("list_products", {"kind": "one_time"})).structured_content
    assert products is not None
    checkout = (
        await client.call_tool(
            "create_checkout", {"products": [products["items"][0]["id"]], "customer_email": LEAKY_EMAIL}
        )
    ).structured_content
    session = (await client.call_tool("create_customer_session", {"customer_id": customer["id"]})).structured_content
    listing = (await client.call_tool("list_orders", {"customer_id": customer["id"], "limit": 100})).structured_content
    assert checkout is not None and session is not None and listing is not None
    draft = next(o["id"] for o in listing["items"] if o["status"] == "draft")
    preview = (await client.call_tool("finalize_order", {"order_id": draft})).structured_content or {}
    secrets = [checkout["client_secret"], session["token"], customer["customer_supplied"]["email"], LEAKY_EMAIL]
    if preview.get("confirmation_token"):
        secrets.append(preview["confirmation_token"])
    return secrets


@pytest.mark.parametrize("transport", ["http", "sse"])
async def test_debug_logs_hold_no_tool_result(transport: str) -> None:
    env = clean_env(POLAR_MCP_HTTP_TOKEN=TOKEN, POLAR_MCP_TOOLSETS="all")
    args = (
        "serve",
        "--emulator",
        "--transport",
        transport,
        "--port",
        "0",
        "--log-level",
        "debug",
        "--audit-log",
        "/dev/null",
    )
    with child_process(*args, env=env) as server:
        async with _client(server.url, transport) as client:
            secrets: Any = await _results_with_secrets(client)
        logs = server.output()
    assert " DEBUG " in logs  # the level really is debug
    assert [secret.split("_")[1] if secret.startswith("polar_") else "email" for secret in secrets[:4]] == [
        "c",
        "cst",
        "email",
        "email",
    ]
    leaked = [secret for secret in secrets if secret in logs]
    assert leaked == [], [line for line in logs.splitlines() if any(secret in line for secret in leaked)][:3]
