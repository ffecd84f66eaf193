"""Replicas and the 2026-07-28 protocol: a client's answer, sealed by one replica, is opened by another when
every replica has the same request-state keys; the settings for that, and the warnings at start."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx2
import mcp_types as types
import pytest
from mcp.client import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from pydantic import ValidationError

from polar_orders_mcp.server.app import build_server, replica_warnings
from polar_orders_mcp.server.http import http_app
from polar_orders_mcp.settings import Settings
from polar_orders_mcp.signing import SigningKey
from tests.approvals.console_client import APPROVER_SECRET
from tests.approvals.form_person import typed_yes
from tests.server.conftest import HTTP_TOKEN, serve_in_thread

pytestmark = pytest.mark.anyio

KEY = "k" * 40
OTHER_KEY = "o" * 40


class Alternate(httpx2.AsyncBaseTransport):
    """A load balancer in a test: each tools/call goes to the next replica in turn; the rest to the first.
    Records which replica each tools/call went to."""

    def __init__(self, replicas: list[str]) -> None:
        self.replicas = replicas
        self.inner = httpx2.AsyncHTTPTransport()
        self.calls: list[int] = []

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        target = 0
        if request.method == "POST" and json.loads(request.content or b"{}").get("method") == "tools/call":
            target = len(self.calls) % len(self.replicas)
            self.calls.append(target)
        base = httpx2.URL(self.replicas[target])
        request.url = request.url.copy_with(host=base.host, port=base.port)
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


@contextmanager
def two_replicas(emulator: Any, state_dir: Path, *keys: str | None) -> Iterator[list[str]]:
    """Two servers on one store (one SQLite file) and one emulator, with these request-state keys."""
    with ExitStack() as stack:
        urls = []
        for key in keys:
            config = Settings(
                emulator=True,
                transport="http",
                http_token=HTTP_TOKEN,
                approver_token=APPROVER_SECRET,
                approval_wait=0,
                state_dir=state_dir,
                request_state_keys=key,
                person_clients=["default"],
            )
            server = build_server(config, transport=httpx2.ASGITransport(app=emulator))
            urls.append(stack.enter_context(serve_in_thread(http_app(server, config))))
        yield urls


async def approve(_ctx: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
    return typed_yes(params)


async def charge_across(urls: list[str], order_id: str) -> tuple[types.CallToolResult, list[int]]:
    """finalize_order from a 2026-07-28 client that can elicit: its first round on one replica, the
    answer (with the sealed request state) on the other."""
    balancer = Alternate(urls)
    http = httpx2.AsyncClient(transport=balancer, headers={"Authorization": f"Bearer {HTTP_TOKEN}"}, timeout=30)
    client = Client(streamable_http_client(f"{urls[0]}/mcp", http_client=http), elicitation_callback=approve)
    async with client:
        result = await client.call_tool("finalize_order", {"order_id": order_id})
    return result, balancer.calls


async def test_an_answer_sealed_by_one_replica_is_opened_by_another_with_the_same_keys(
    emulator: Any, tmp_path: Path
) -> None:
    state = emulator.state.emulator
    order_id = state.seed_info.draft_orders["good_card"]
    with two_replicas(emulator, tmp_path / "state", KEY, KEY) as urls:
        result, went_to = await charge_across(urls, order_id)
    assert went_to == [0, 1]
    assert not result.is_error, result.content
    assert state.store.order(order_id).status == "paid"


async def test_with_keys_of_their_own_the_other_replica_refuses_the_answer(emulator: Any, tmp_path: Path) -> None:
    state = emulator.state.emulator
    order_id = state.seed_info.draft_orders["good_card"]
    replicas = two_replicas(emulator, tmp_path / "state", KEY, OTHER_KEY)
    with replicas as urls, pytest.raises(BaseExceptionGroup) as refused:
        await charge_across(urls, order_id)
    errors = leaves(refused.value)
    assert [(type(e), str(e)) for e in errors] == [(MCPError, "Invalid or expired requestState")]
    assert state.store.order(order_id).status == "draft"


def leaves(group: BaseException) -> list[BaseException]:
    if isinstance(group, BaseExceptionGroup):
        return [leaf for inner in group.exceptions for leaf in leaves(inner)]
    return [group]


def test_request_state_keys_are_long_random_secrets_listed_once() -> None:
    assert Settings(request_state_keys=f" {KEY} , {OTHER_KEY} ").request_state_key_list() == [KEY, OTHER_KEY]
    for given, said in (
        ("short-key-1234", "key 1 is too short: use at least 32 random characters"),
        (f"{KEY},{KEY}", "a key is listed twice"),
        (" , ", "no key given"),
    ):
        with pytest.raises(ValidationError) as refused:
            Settings(request_state_keys=given)
        message = refused.value.errors()[0]["msg"]  # what the command line prints
        assert said in message and "short-key-1234" not in message


def test_a_replica_on_a_shared_database_is_warned_of_what_every_replica_must_share() -> None:
    shared = {"transport": "http", "database_url": "postgresql://pom@db/pom"}
    warned = replica_warnings(Settings(**shared, confirm="relay"))
    assert [w.split(" is not set")[0] for w in warned] == [
        "POLAR_MCP_REQUEST_STATE_KEYS",
        "POLAR_MCP_CONFIRM_SECRET",
        "POLAR_MCP_SIGNING_KEY",
    ]
    assert "Set it to the same secret on every replica" in warned[0]
    assert "Give every replica the same key" in warned[2]
    pem = SigningKey.generate().pem().decode()
    assert replica_warnings(Settings(**shared, request_state_keys=KEY, signing_key=pem)) == []
    assert (
        replica_warnings(
            Settings(**shared, request_state_keys=KEY, confirm="relay", confirm_secret="s" * 32, signing_key=pem)
        )
        == []
    )
    assert replica_warnings(Settings(transport="http", state_dir="/tmp/x")) == []  # SQLite: one host, no replicas
    assert replica_warnings(Settings(database_url="postgresql://pom@db/pom")) == []  # stdio
