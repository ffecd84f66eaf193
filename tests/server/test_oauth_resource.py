"""The MCP endpoint as an OAuth resource server: metadata, challenges, scopes per tier, and people's sessions.

The bearer tokens here come from a table verifier; the real ones (the embedded authorization server, an external
provider) have tests of their own in tests/oauth/.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx2
import pytest
from mcp.client import Client
from mcp.client.streamable_http import streamable_http_client

from polar_orders_mcp.oauth import setup
from polar_orders_mcp.oauth.grants import SCOPE_MONEY, SCOPE_READ, SCOPE_WRITE, SCOPES, Grant, Person
from polar_orders_mcp.server.app import build_parts
from polar_orders_mcp.server.http import StartupError, check_exposure, http_app
from polar_orders_mcp.settings import Settings
from tests.reliability.processes import MCP_HEADERS
from tests.server.conftest import serve_in_thread

pytestmark = pytest.mark.anyio

PUBLIC = "https://mcp.example.com"
ISSUER = "https://login.example.com"
STATIC = "static-token-0123456789abcdef"
PEOPLE = {"approvers": "ada:ada-secret-for-tests,bob:bob-secret-for-tests", "roles": "ada=use,bob=use+approve"}
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
}


def person(name: str) -> Person:
    return Person(subject=f"sub-{name}", name=name, issuer=ISSUER)


TOKENS = {
    "ada-reads": Grant("oauth:desk", frozenset({SCOPE_READ}), person("ada")),
    "ada-all": Grant("oauth:desk", frozenset(SCOPES), person("ada")),
    "carol-all": Grant("oauth:desk", frozenset(SCOPES), person("carol")),
    "ada-money-only": Grant("oauth:desk", frozenset({SCOPE_MONEY}), person("ada")),
}


class TableVerifier:
    async def verify(self, token: str) -> Grant | None:
        return TOKENS.get(token)


BUILT: list[Any] = []


@pytest.fixture
def start(emulator: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> Callable[..., Any]:
    monkeypatch.setattr(setup, "oauth_parts", lambda *_: setup.OAuthParts([TableVerifier()], [], ISSUER))

    @contextmanager
    def run(**settings: Any) -> Iterator[str]:
        given = {
            "oauth": True,
            "public_url": PUBLIC,
            "allowed_hosts": ["127.0.0.1"],
            "state_dir": tmp_path,
            "toolsets": ["all"],
            **PEOPLE,
            **settings,
        }
        config = Settings(emulator=True, **{"transport": "http", **given})
        built = build_parts(config, transport=httpx2.ASGITransport(app=emulator))
        BUILT[:] = [built]
        with serve_in_thread(http_app(built.server, config)) as url:
            yield url

    return run


def bearer(token: str) -> dict[str, str]:
    return {**MCP_HEADERS, "Authorization": f"Bearer {token}"}


async def opened(http: httpx2.AsyncClient, url: str, token: str) -> dict[str, str]:
    """The headers of a new legacy session opened with `token`."""
    answer = await http.post(f"{url}/mcp", json=INITIALIZE, headers=bearer(token))
    headers = {**bearer(token), "mcp-session-id": answer.headers["mcp-session-id"]}
    done = {"jsonrpc": "2.0", "method": "notifications/initialized"}
    assert (await http.post(f"{url}/mcp", json=done, headers=headers)).status_code == 202
    return headers


def tool_call(name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": name, "arguments": arguments}}


async def test_without_a_token_the_answer_says_where_to_sign_in(start: Any) -> None:
    with start() as url:
        async with httpx2.AsyncClient(timeout=30) as http:
            refused = await http.post(f"{url}/mcp", json=INITIALIZE, headers=MCP_HEADERS)
            path_form = await http.get(f"{url}/.well-known/oauth-protected-resource/mcp")
            bare = await http.get(f"{url}/.well-known/oauth-protected-resource")
    assert refused.status_code == 401
    assert refused.headers["www-authenticate"] == (
        f'Bearer resource_metadata="{PUBLIC}/.well-known/oauth-protected-resource/mcp", '
        'scope="polar:read polar:write polar:money"'
    )
    assert refused.json()["error"] == "unauthorized"
    assert path_form.status_code == 200 and path_form.json() == bare.json()
    assert path_form.json() == {
        "resource": f"{PUBLIC}/mcp",
        "authorization_servers": [ISSUER],
        "scopes_supported": list(SCOPES),
        "bearer_methods_supported": ["header"],
        "resource_name": "Polar orders",
    }


async def test_a_token_that_grants_nothing_here_is_an_invalid_token(start: Any) -> None:
    with start() as url:
        async with httpx2.AsyncClient(timeout=30) as http:
            refused = await http.post(f"{url}/mcp", json=INITIALIZE, headers=bearer("made-up"))
            not_bearer = await http.post(
                f"{url}/mcp", json=INITIALIZE, headers={**MCP_HEADERS, "Authorization": "Basic ada-all"}
            )
            any_case = await http.post(
                f"{url}/mcp", json=INITIALIZE, headers={**MCP_HEADERS, "Authorization": "bEaReR ada-all"}
            )
    assert any_case.status_code == 200  # the scheme's case does not matter (RFC 9110)
    assert refused.status_code == 401
    assert refused.headers["www-authenticate"].startswith('Bearer error="invalid_token", resource_metadata=')
    assert "issued for another server" in refused.json()["error_description"]
    assert not_bearer.status_code == 401


async def test_a_read_token_reads_and_is_told_which_scope_moving_money_needs(start: Any, emulator: Any) -> None:
    order_id = emulator.state.emulator.seed_info.draft_orders["good_card"]
    with start() as url:
        async with httpx2.AsyncClient(timeout=30) as http:
            session = await opened(http, url, "ada-reads")
            listed = await http.post(f"{url}/mcp", json=tool_call("list_products", {}), headers=session)
            charge = await http.post(
                f"{url}/mcp", json=tool_call("finalize_order", {"order_id": order_id}), headers=bearer("ada-reads")
            )
            batch = await http.post(
                f"{url}/mcp",
                json=[tool_call("list_products", {}), tool_call("create_checkout", {})],
                headers=bearer("ada-reads"),
            )
    assert listed.status_code == 200 and '"isError":false' in listed.text.replace(" ", "")
    assert charge.status_code == 403
    assert charge.headers["www-authenticate"] == (
        f'Bearer error="insufficient_scope", resource_metadata="{PUBLIC}/.well-known/oauth-protected-resource/mcp", '
        'scope="polar:read polar:money"'
    )
    assert charge.json()["error"] == "insufficient_scope"
    assert "does not grant polar:money" in charge.json()["error_description"]
    assert batch.status_code == 403 and f'scope="{SCOPE_READ} {SCOPE_WRITE}"' in batch.headers["www-authenticate"]
    assert emulator.state.emulator.store.order(order_id).status == "draft"


async def test_reading_resources_and_prompts_needs_the_read_scope(start: Any) -> None:
    read = {"jsonrpc": "2.0", "id": 3, "method": "resources/read", "params": {"uri": "polar://x"}}
    prompt = {"jsonrpc": "2.0", "id": 4, "method": "prompts/get", "params": {"name": "x"}}
    with start() as url:
        async with httpx2.AsyncClient(timeout=30) as http:
            answers = [
                await http.post(f"{url}/mcp", json=body, headers=bearer("ada-money-only")) for body in (read, prompt)
            ]
    assert [a.status_code for a in answers] == [403, 403]
    assert all(f'scope="{SCOPE_READ} {SCOPE_MONEY}"' in a.headers["www-authenticate"] for a in answers)


async def test_static_tokens_keep_working_beside_oauth(start: Any) -> None:
    with start(http_token=STATIC) as url:
        async with Client(
            streamable_http_client(f"{url}/mcp", http_client=httpx2.AsyncClient(headers=bearer(STATIC), timeout=30)),
            mode="legacy",
        ) as client:
            tools = await client.list_tools()
    assert "finalize_order" in {tool.name for tool in tools.tools}


async def test_one_persons_session_is_not_another_persons_on_the_same_client(start: Any) -> None:
    with start() as url:
        async with httpx2.AsyncClient(timeout=30) as http:
            opened = await http.post(f"{url}/mcp", json=INITIALIZE, headers=bearer("ada-all"))
            session = {"mcp-session-id": opened.headers["mcp-session-id"]}
            ping = {"jsonrpc": "2.0", "id": 5, "method": "ping"}
            as_carol = await http.post(f"{url}/mcp", json=ping, headers={**bearer("carol-all"), **session})
            as_ada = await http.post(f"{url}/mcp", json=ping, headers={**bearer("ada-all"), **session})
    assert as_carol.status_code == 404
    assert as_ada.status_code == 200


async def test_the_audit_names_the_person_a_client_acts_for(start: Any) -> None:
    with start() as url:
        async with httpx2.AsyncClient(timeout=30) as http:
            session = await opened(http, url, "ada-all")
            made = await http.post(f"{url}/mcp", json=tool_call("create_checkout", {"products": []}), headers=session)
        records = [r.entry for r in await (await BUILT[0].store()).audit_records()]
    assert made.status_code == 200
    assert [(r["tool"], r["client"], r["person"]) for r in records] == [("create_checkout", "oauth:desk", "ada")]


def test_oauth_beyond_loopback_needs_an_https_public_url_and_people_who_use_tools() -> None:
    base = {"emulator": True, "transport": "http", "oauth": True, **PEOPLE}
    cases = [
        ({"host": "0.0.0.0"}, "--oauth needs --public-url (POLAR_MCP_PUBLIC_URL)"),
        ({"host": "0.0.0.0", "public_url": "http://mcp.example.com"}, "is not https"),
        ({"roles": None}, "nobody may sign in for a client"),
        ({"no_auth": True}, "--no-auth and --oauth at once"),
    ]
    for given, said in cases:
        with pytest.raises(StartupError, match=None) as refused:
            check_exposure(Settings(**{**base, **given}))
        assert said in str(refused.value)
    check_exposure(Settings(**{**base, "host": "0.0.0.0", "public_url": PUBLIC}))  # no static token needed


async def test_a_tool_refuses_a_token_without_its_scope_even_past_the_gate(emulator: Any, tmp_path: Any) -> None:
    """The gate reads the scope a request needs from its body; the tool checks again, whatever reached it."""
    from polar_orders_mcp.server.identity import GRANT_KEY

    order_id = emulator.state.emulator.seed_info.draft_orders["good_card"]
    config = Settings(emulator=True, transport="http", state_dir=tmp_path, toolsets=["all"])
    inner = build_parts(config, transport=httpx2.ASGITransport(app=emulator)).server.streamable_http_app()

    async def reads_only(scope: Any, receive: Any, send: Any) -> None:
        await inner({**scope, GRANT_KEY: TOKENS["ada-reads"]} if scope["type"] == "http" else scope, receive, send)

    with serve_in_thread(reads_only) as url:
        async with Client(streamable_http_client(f"{url}/mcp"), mode="legacy") as client:
            charged = await client.call_tool("finalize_order", {"order_id": order_id})
            listed = await client.call_tool("list_products", {})
    assert charged.is_error and not listed.is_error
    assert charged.content[0].text == (  # type: ignore[union-attr]
        "finalize_order needs the OAuth scope polar:money, which this client's token does not grant. Nothing was "
        "done: sign in again and allow polar:money."
    )
    assert emulator.state.emulator.store.order(order_id).status == "draft"


async def test_a_body_too_large_to_read_for_its_scope_is_refused(start: Any) -> None:
    with start() as url:
        async with httpx2.AsyncClient(timeout=30) as http:
            huge = await http.post(
                f"{url}/mcp",
                content=b"[" + b" " * (4 * 1024 * 1024) + b"]",
                headers={**bearer("ada-reads"), "content-type": "application/json"},
            )
    assert huge.status_code == 413
    assert huge.json()["error_description"] == "Request bodies are limited to 4194304 bytes."


async def test_one_persons_sse_session_is_not_another_persons_on_the_same_client(start: Any) -> None:
    with start(transport="sse") as url:
        async with (
            httpx2.AsyncClient(timeout=30) as http,
            http.stream("GET", f"{url}/sse", headers=bearer("ada-all")) as stream,
        ):
            lines = stream.aiter_lines()
            session_id = ""
            while "session_id=" not in session_id:
                session_id = await anext(lines)
            target = f"{url}/messages/?session_id={session_id.split('session_id=')[1].strip()}"
            ping = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
            as_carol = await http.post(target, json=ping, headers=bearer("carol-all"))
            as_ada = await http.post(target, json=ping, headers=bearer("ada-all"))
    assert (as_carol.status_code, as_carol.text) == (404, "Could not find session")
    assert as_ada.status_code == 202


async def test_a_body_nested_too_deep_to_read_is_refused_by_the_sdk_not_a_server_error(start: Any) -> None:
    nested = b"[" * 5000 + b"]" * 5000
    body = b'{"jsonrpc": "2.0", "id": 1, "method": "ping", "params": {"x": ' + nested + b"}}"
    with start() as url:
        async with httpx2.AsyncClient(timeout=30) as http:
            answer = await http.post(
                f"{url}/mcp", content=body, headers={**bearer("ada-reads"), "content-type": "application/json"}
            )
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == -32700  # the SDK's parse error


async def test_the_bearer_scheme_is_read_whatever_its_case_and_spacing(start: Any) -> None:
    """RFC 7235: `bearer`, `BEARER` and `Bearer  token` are the same credential as `Bearer token`."""
    with start(http_token=STATIC) as url:
        async with httpx2.AsyncClient(timeout=30) as http:
            answers = [
                await http.post(f"{url}/mcp", json=INITIALIZE, headers={**MCP_HEADERS, "Authorization": given})
                for given in ("bearer ada-all", "BEARER ada-all", f"bearer {STATIC}", f"Bearer  {STATIC}")
            ]
            other = await http.post(f"{url}/mcp", json=INITIALIZE, headers={**MCP_HEADERS, "Authorization": STATIC})
    assert [a.status_code for a in answers] == [200, 200, 200, 200]
    assert other.status_code == 401


async def test_the_session_cap_is_per_person_not_per_client_app(start: Any) -> None:
    """One connector serves a whole desk: carol opening a session never closes ada's to make room."""
    ping = {"jsonrpc": "2.0", "id": 9, "method": "ping"}
    with start(max_sessions_per_client=1) as url:
        async with httpx2.AsyncClient(timeout=30) as http:
            ada = await opened(http, url, "ada-all")
            carol = await opened(http, url, "carol-all")
            answers = [(await http.post(f"{url}/mcp", json=ping, headers=h)).status_code for h in (ada, carol)]
    assert answers == [200, 200]
