"""The server behind a real external provider (oidc-provider): its tokens call tools over streamable HTTP as the
person they name, within their scopes; tokens for another resource or issuer are refused at the door."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
import uvicorn
from mcp.client import Client
from mcp.client.streamable_http import streamable_http_client

from polar_orders_mcp.emulator.app import create_app
from polar_orders_mcp.server.app import build_parts
from polar_orders_mcp.server.http import http_app
from polar_orders_mcp.settings import Settings
from tests.oauth.real_idp import RealIdp
from tests.reliability.processes import MCP_HEADERS
from tests.server.conftest import serve_in_thread

pytestmark = pytest.mark.anyio

SERVED: list[Any] = []


@pytest.fixture(scope="module")
def idp() -> Iterator[RealIdp]:
    started = RealIdp()
    yield started
    started.stop()


@pytest.fixture
def site(idp: RealIdp, tmp_path: Path) -> Iterator[str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    settings = Settings(
        emulator=True,
        transport="http",
        port=port,
        oauth_issuer=idp.issuer,
        state_dir=tmp_path,
        toolsets=["all"],
        approval_wait=0,
        approvers="bob:bob-secret-for-tests",
    )
    emulator = create_app(orders=10)
    built = build_parts(settings, transport=httpx2.ASGITransport(app=emulator))
    SERVED[:] = [built, emulator]
    app = http_app(built.server, settings)
    with serve_in_thread(app, uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")):
        yield settings.resource_url()


def client_with(token: str, resource: str) -> Any:
    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=30)
    return Client(streamable_http_client(resource, http_client=http), mode="legacy")


async def test_a_persons_token_calls_tools_as_that_person(idp: RealIdp, site: str) -> None:
    tokens = idp.code_flow(site, scope="openid offline_access polar:read polar:write polar:money", person="ada")
    built, emulator = SERVED
    order_id = emulator.state.emulator.seed_info.draft_orders["good_card"]
    async with client_with(tokens["access_token"], site) as client:
        listed = await client.call_tool("list_products", {})
        asked = await client.call_tool("finalize_order", {"order_id": order_id})
    assert not listed.is_error
    assert asked.structured_content is not None and asked.structured_content["status"] == "approval_pending"
    approval = await (await built.store()).get_approval(asked.structured_content["approval"]["approval_id"])
    assert approval is not None and (approval.client, approval.asked_by) == ("oauth:agent", "ada")


async def test_a_read_token_is_told_to_step_up_and_nothing_moves(idp: RealIdp, site: str) -> None:
    tokens = idp.code_flow(site, scope="openid polar:read", person="ada")
    _, emulator = SERVED
    order_id = emulator.state.emulator.seed_info.draft_orders["good_card"]
    headers = {**MCP_HEADERS, "Authorization": f"Bearer {tokens['access_token']}"}
    call = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {"name": "finalize_order", "arguments": {"order_id": order_id}},
    }
    async with httpx2.AsyncClient(timeout=30) as http:
        answer = await http.post(site, json=call, headers=headers)
    assert answer.status_code == 403
    assert 'error="insufficient_scope"' in answer.headers["www-authenticate"]
    assert 'scope="polar:read polar:money"' in answer.headers["www-authenticate"]
    assert emulator.state.emulator.store.order(order_id).status == "draft"


async def test_tokens_for_another_resource_or_from_another_provider_are_refused(idp: RealIdp, site: str) -> None:
    elsewhere = idp.client_credentials("http://localhost:1/mcp", scope="polar:read")
    other = RealIdp()
    try:
        foreign = other.client_credentials(site, scope="polar:read")
    finally:
        other.stop()
    initialize = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
    }
    async with httpx2.AsyncClient(timeout=30) as http:
        answers = [
            await http.post(site, json=initialize, headers={**MCP_HEADERS, "Authorization": f"Bearer {token}"})
            for token in (elsewhere, foreign)
        ]
    assert [a.status_code for a in answers] == [401, 401]
    assert all(a.headers["www-authenticate"].startswith('Bearer error="invalid_token"') for a in answers)
