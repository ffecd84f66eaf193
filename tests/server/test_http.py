"""Streamable HTTP and SSE over real loopback sockets, with real MCP clients."""

from __future__ import annotations

from typing import Any

import httpx2
import mcp_types as types
import pytest
from mcp.client import Client
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client

from polar_orders_mcp.settings import Settings
from tests.approvals.console_client import Person
from tests.server.conftest import HTTP_TOKEN

pytestmark = pytest.mark.anyio

AUTH = {"Authorization": f"Bearer {HTTP_TOKEN}"}
INIT = {
    "jsonrpc": "2.0", "id": 1, "method": "initialize",
    "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
}  # fmt: skip
JSON_HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


def http_client(url: str, mode: str, token: str = HTTP_TOKEN, **kwargs: Any) -> Client:
    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=30)
    return Client(streamable_http_client(f"{url}/mcp", http_client=http), mode=mode, **kwargs)


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_streamable_http_serves_tools_in_both_eras(mcp_over_http: Any, mode: str) -> None:
    with mcp_over_http("http") as url:
        async with http_client(url, mode) as client:
            tools = await client.list_tools()
            listing = await client.call_tool("list_orders", {"limit": 3})
    assert any(t.name == "finalize_order" for t in tools.tools)
    assert not listing.is_error and len(listing.structured_content["items"]) == 3  # type: ignore[index]


def transport_client(url: str, transport: str, mode: str, **kwargs: Any) -> Client:
    if transport == "sse":
        return Client(sse_client(f"{url}/sse", headers=AUTH), mode=mode, **kwargs)
    return http_client(url, mode, **kwargs)


@pytest.mark.parametrize("mode", ["auto", "legacy"])
@pytest.mark.parametrize("transport", ["http", "sse"])
async def test_the_approval_console_of_the_http_app_approves_a_charge(
    mcp_over_http: Any, emulator: Any, mode: str, transport: str
) -> None:
    state = emulator.state.emulator
    order_id = state.seed_info.draft_orders["good_card"]
    with mcp_over_http(transport) as url:
        async with transport_client(url, transport, mode) as client, Person(base_url=url) as person:
            first = await client.call_tool("finalize_order", {"order_id": order_id})
            approval = first.structured_content["approval"]  # type: ignore[index]
            assert approval["approve_at"] == f"{url}/approvals/{approval['approval_id']}"
            assert state.store.order(order_id).status == "draft"
            assert (await person.approve(approval["approval_id"])).status_code == 303
            second = await client.call_tool(
                "finalize_order", {"order_id": order_id, "approval_id": approval["approval_id"]}
            )
    assert not second.is_error, second.content
    assert state.store.order(order_id).status == "paid"


@pytest.mark.parametrize("mode", ["auto", "legacy"])
@pytest.mark.parametrize("transport", ["http", "sse"])
async def test_elicitation_works_over_http(mcp_over_http: Any, emulator: Any, mode: str, transport: str) -> None:
    state = emulator.state.emulator
    order_id = state.seed_info.draft_orders["good_card"]
    shown: list[str] = []

    async def human(_ctx: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        shown.append(params.message)
        return types.ElicitResult(action="accept", content={"approve": True})

    with mcp_over_http(transport) as url:
        async with transport_client(url, transport, mode, elicitation_callback=human) as client:
            result = await client.call_tool("finalize_order", {"order_id": order_id})
    assert not result.is_error, result.content
    assert len(shown) == 1
    assert state.store.order(order_id).status == "paid"


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_sse_serves_tools(mcp_over_http: Any, mode: str) -> None:
    with mcp_over_http("sse") as url:
        async with Client(sse_client(f"{url}/sse", headers=AUTH), mode=mode) as client:
            tools = await client.list_tools()
            order = await client.call_tool("list_orders", {"limit": 1})
    assert tools.tools and not order.is_error


@pytest.mark.parametrize("transport,path", [("http", "/mcp"), ("sse", "/sse")])
@pytest.mark.parametrize("token", [None, "wrong-token-wrong-token"])
async def test_missing_or_wrong_bearer_is_refused(mcp_over_http: Any, transport: str, path: str, token: Any) -> None:
    headers = {**JSON_HEADERS, **({"Authorization": f"Bearer {token}"} if token else {})}
    with mcp_over_http(transport) as url:
        async with httpx2.AsyncClient() as http:
            response = await http.post(f"{url}{path}", json=INIT, headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert HTTP_TOKEN not in response.text


async def test_wrong_bearer_refuses_the_mcp_client(mcp_over_http: Any) -> None:
    with mcp_over_http("http") as url, pytest.raises(Exception):  # noqa: B017
        async with http_client(url, "legacy", token="wrong-token-wrong-token") as client:
            await client.list_tools()


async def test_bad_host_and_origin_are_refused(mcp_over_http: Any) -> None:
    with mcp_over_http("http") as url:
        async with httpx2.AsyncClient() as http:
            evil_host = {**JSON_HEADERS, **AUTH, "Host": "evil.example"}
            bad_host = await http.post(f"{url}/mcp", json=INIT, headers=evil_host)
            bad_origin = await http.post(
                f"{url}/mcp", json=INIT, headers={**JSON_HEADERS, **AUTH, "Origin": "https://evil.example"}
            )
            good = await http.post(f"{url}/mcp", json=INIT, headers={**JSON_HEADERS, **AUTH})
    assert bad_host.status_code in (400, 421)
    assert bad_origin.status_code == 403
    assert good.status_code == 200


async def test_allowed_hosts_and_origins_can_be_added(mcp_over_http: Any) -> None:
    extra = {"allowed_hosts": ["mcp.example.com:*"], "allowed_origins": ["https://app.example.com"]}
    with mcp_over_http("http", **extra) as url:
        port = url.rsplit(":", 1)[1]
        headers = {**JSON_HEADERS, **AUTH, "Host": f"mcp.example.com:{port}", "Origin": "https://app.example.com"}
        async with httpx2.AsyncClient() as http:
            response = await http.post(f"{url}/mcp", json=INIT, headers=headers)
    assert response.status_code == 200


async def test_healthz_needs_no_token(mcp_over_http: Any) -> None:
    with mcp_over_http("http") as url:
        async with httpx2.AsyncClient() as http:
            response = await http.get(f"{url}/healthz")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_serving_beyond_loopback_without_a_token_is_refused() -> None:
    from polar_orders_mcp.server.http import StartupError, check_exposure

    with pytest.raises(StartupError, match="POLAR_MCP_HTTP_TOKEN"):
        check_exposure(Settings(emulator=True, transport="http", host="0.0.0.0"))
    check_exposure(Settings(emulator=True, transport="http", host="127.0.0.1"))
    check_exposure(Settings(emulator=True, transport="http", host="0.0.0.0", http_token="x" * 32))
