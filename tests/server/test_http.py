"""Streamable HTTP and SSE over real loopback sockets, with real MCP clients."""

from __future__ import annotations

import json
from typing import Any

import anyio
import httpx2
import mcp_types as types
import pytest
from mcp.client import Client
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from polar_orders_mcp.server.app import build_server
from polar_orders_mcp.server.http import StartupError, check_exposure, http_app
from polar_orders_mcp.settings import Settings
from tests.approvals.console_client import Person
from tests.approvals.form_person import typed_yes
from tests.server.conftest import HTTP_TOKEN, serve_in_thread

pytestmark = pytest.mark.anyio

AUTH = {"Authorization": f"Bearer {HTTP_TOKEN}"}
INIT = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
}
JSON_HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


async def _raw_session(http: httpx2.AsyncClient, url: str, capabilities: dict[str, Any]) -> str:
    """An MCP session opened by hand, declaring exactly these client capabilities; its id."""
    init = {**INIT, "params": {**INIT["params"], "capabilities": capabilities}}  # type: ignore[dict-item]
    opened = await http.post(f"{url}/mcp", json=init, headers={**JSON_HEADERS, **AUTH})
    session = opened.headers["mcp-session-id"]
    ready = {"jsonrpc": "2.0", "method": "notifications/initialized"}
    await http.post(f"{url}/mcp", json=ready, headers={**JSON_HEADERS, **AUTH, "mcp-session-id": session})
    return session


def _last_result(body: str) -> dict[str, Any]:
    """The result of a JSON-RPC answer, sent as JSON or as the last event of an event stream."""
    data = [line[5:].strip() for line in body.splitlines() if line.startswith("data:")] or [body]
    return json.loads(data[-1])["result"]  # type: ignore[no-any-return]


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
        return typed_yes(params)

    with mcp_over_http(transport, person_clients=["default"]) as url:
        async with transport_client(url, transport, mode, elicitation_callback=human) as client:
            result = await client.call_tool("finalize_order", {"order_id": order_id})
    assert not result.is_error, result.content
    assert len(shown) == 1
    assert state.store.order(order_id).status == "paid"


@pytest.mark.parametrize("mode", ["auto", "legacy"])
@pytest.mark.parametrize("transport", ["http", "sse"])
async def test_a_client_the_operator_did_not_mark_as_a_person_cannot_approve_its_own_charge(
    mcp_over_http: Any, emulator: Any, mode: str, transport: str
) -> None:
    """A script holding an HTTP token answers every question it is asked: its answer is nobody's approval. The
    request goes to the approval console (here by URL elicitation, which only opens the page)."""
    state = emulator.state.emulator
    order_id = state.seed_info.draft_orders["good_card"]
    asked: list[str] = []

    async def script(_ctx: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        asked.append(params.mode or "form")
        if isinstance(params, types.ElicitRequestFormParams):
            return typed_yes(params)
        return types.ElicitResult(action="accept")

    with mcp_over_http(transport) as url:
        async with transport_client(url, transport, mode, elicitation_callback=script) as client:
            first = await client.call_tool("finalize_order", {"order_id": order_id})
    assert "form" not in asked
    assert state.store.order(order_id).status == "draft"
    assert first.is_error or first.structured_content["status"] == "approval_pending"  # type: ignore[index]


async def test_a_form_only_client_not_marked_as_a_person_is_sent_to_the_console(
    mcp_over_http: Any, emulator: Any
) -> None:
    state = emulator.state.emulator
    order_id = state.seed_info.draft_orders["good_card"]
    async with httpx2.AsyncClient(timeout=30) as http:
        with mcp_over_http("http") as url, anyio.fail_after(20):  # asked in a form, it would wait for an answer
            session = await _raw_session(http, url, {"elicitation": {"form": {}}})
            call = {
                "jsonrpc": "2.0",
                "id": 2,
                "method": "tools/call",
                "params": {"name": "finalize_order", "arguments": {"order_id": order_id}},
            }
            headers = {**JSON_HEADERS, **AUTH, "mcp-session-id": session}
            answer = await http.post(f"{url}/mcp", json=call, headers=headers)
    result = _last_result(answer.text)
    assert result["structuredContent"]["status"] == "approval_pending", result
    assert result["structuredContent"]["approval"]["approve_at"].startswith(f"{url}/approvals/apr_")
    assert state.store.order(order_id).status == "draft"


async def test_person_clients_must_name_clients_of_the_server() -> None:
    config = Settings(emulator=True, transport="http", http_tokens=f"desk-a:{HTTP_TOKEN}", person_clients="desk-b")
    with pytest.raises(StartupError) as raised:
        check_exposure(config)
    assert str(raised.value) == (
        "--person-clients names desk-b, not a client of this server: it has desk-a. Name the HTTP clients "
        "(POLAR_MCP_HTTP_TOKENS) with a person at the screen."
    )


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
    with mcp_over_http("http") as url, pytest.raises(ExceptionGroup) as refused:
        async with http_client(url, "legacy", token="wrong-token-wrong-token") as client:
            await client.list_tools()
    # The client's task group reports the HTTP 401 as this error, two groups down.
    assert refused.group_contains(MCPError, match="^Server returned an error response$", depth=2)


async def test_bad_host_and_origin_are_refused_with_the_option_to_use(mcp_over_http: Any) -> None:
    with mcp_over_http("http") as url:
        async with httpx2.AsyncClient() as http:
            evil_host = {**JSON_HEADERS, **AUTH, "Host": "evil.example:8000"}
            bad_host = await http.post(f"{url}/mcp", json=INIT, headers=evil_host)
            bad_origin = await http.post(
                f"{url}/mcp", json=INIT, headers={**JSON_HEADERS, **AUTH, "Origin": "https://evil.example"}
            )
            no_token_bad_host = await http.post(f"{url}/mcp", json=INIT, headers={**JSON_HEADERS, "Host": "evil"})
            good = await http.post(f"{url}/mcp", json=INIT, headers={**JSON_HEADERS, **AUTH})
    assert bad_host.status_code == 421
    assert bad_host.json() == {
        "error": "invalid_host",
        "error_description": "This server does not answer to Host 'evil.example:8000'. If clients reach it by that "
        "name (a proxy, a DNS name), start it with --allowed-hosts evil.example:* (or POLAR_MCP_ALLOWED_HOSTS). "
        "Accepted now: 127.0.0.1:*, localhost:*, [::1]:*.",
    }
    assert bad_origin.status_code == 403
    assert bad_origin.json() == {
        "error": "invalid_origin",
        "error_description": "Requests from web pages at Origin 'https://evil.example' are refused. If that page is "
        "yours, start the server with --allowed-origins https://evil.example (or POLAR_MCP_ALLOWED_ORIGINS).",
    }
    assert no_token_bad_host.status_code == 421  # Host first: a rebinding page learns nothing of the auth
    assert good.status_code == 200


async def test_allowed_hosts_and_origins_can_be_added(mcp_over_http: Any) -> None:
    extra = {"allowed_hosts": ["mcp.example.com:*"], "allowed_origins": ["https://app.example.com"]}
    with mcp_over_http("http", **extra) as url:
        port = url.rsplit(":", 1)[1]
        headers = {**JSON_HEADERS, **AUTH, "Host": f"mcp.example.com:{port}", "Origin": "https://app.example.com"}
        async with httpx2.AsyncClient() as http:
            response = await http.post(f"{url}/mcp", json=INIT, headers=headers)
    assert response.status_code == 200


@pytest.mark.parametrize("transport,path", [("http", "/mcp"), ("sse", "/sse")])
async def test_host_name_star_also_accepts_the_name_without_a_port(
    mcp_over_http: Any, transport: str, path: str
) -> None:
    """What a client of https://mcp.example.com/mcp sends through most proxies: no port."""
    with mcp_over_http(transport, allowed_hosts=["mcp.example.com:*"]) as url:
        # The server's own origin (a page it serves, e.g. an approval console) needs no --allowed-origins.
        headers = {**JSON_HEADERS, **AUTH, "Host": "mcp.example.com", "Origin": "https://mcp.example.com"}
        async with httpx2.AsyncClient(timeout=30) as http:
            if transport == "http":
                response = await http.post(f"{url}{path}", json=INIT, headers=headers)
                status = response.status_code
            else:
                async with http.stream("GET", f"{url}{path}", headers=headers) as stream:
                    status = stream.status_code
            other = await http.post(f"{url}/mcp", json=INIT, headers={**headers, "Host": "mcp.example.com.evil"})
    assert status == 200
    assert other.status_code == 421


async def test_extra_routes_under_approvals_skip_the_bearer_but_not_the_host_check(emulator: Any) -> None:
    async def ping(_: Request) -> Response:
        return PlainTextResponse("pong")

    config = Settings(emulator=True, transport="http", http_token=HTTP_TOKEN)
    server = build_server(config, transport=httpx2.ASGITransport(app=emulator))
    routes = [Route("/approvals/ping", ping), Route("/admin/ping", ping)]
    with serve_in_thread(http_app(server, config, routes)) as url:
        async with httpx2.AsyncClient(base_url=url) as http:
            approvals = await http.get("/approvals/ping")
            approvals_bad_host = await http.get("/approvals/ping", headers={"Host": "evil.example"})
            approvals_bad_origin = await http.get("/approvals/ping", headers={"Origin": "https://evil.example"})
            admin_anonymous = await http.get("/admin/ping")
            admin = await http.get("/admin/ping", headers=AUTH)
            mcp = await http.post("/mcp", json=INIT, headers={**JSON_HEADERS, **AUTH})
    assert (approvals.status_code, approvals.text) == (200, "pong")
    assert approvals_bad_host.status_code == 421
    assert approvals_bad_origin.status_code == 403
    assert admin_anonymous.status_code == 401
    assert (admin.status_code, admin.text) == (200, "pong")
    assert mcp.status_code == 200


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
    check_exposure(Settings(emulator=True, transport="http", host="0.0.0.0", http_tokens="desk:" + "x" * 32))


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (
            {"host": "0.0.0.0", "no_auth": True},
            "Refusing to serve on 0.0.0.0 without POLAR_MCP_HTTP_TOKEN: anyone who "
            "can reach the port could act on your Polar organization. Set POLAR_MCP_HTTP_TOKEN (a long random string "
            "clients send as 'Authorization: Bearer …') or POLAR_MCP_HTTP_TOKENS, or bind to 127.0.0.1. --no-auth is "
            "for loopback only.",
        ),
        (
            {"no_auth": True, "http_token": "x" * 32},
            "--no-auth and an HTTP token (POLAR_MCP_HTTP_TOKEN or POLAR_MCP_HTTP_TOKENS) at once: drop one of them.",
        ),
    ],
)
def test_no_auth_is_for_loopback_without_tokens_only(settings: dict[str, Any], message: str) -> None:
    from polar_orders_mcp.server.http import StartupError, check_exposure

    with pytest.raises(StartupError) as refused:
        check_exposure(Settings(emulator=True, transport="http", **settings))
    assert str(refused.value) == message
