"""Named HTTP clients: who is calling (server/identity.py), whose session is whose, and session caps."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from typing import Any

import anyio
import httpx2
import mcp_types as types
import pytest
from mcp.client import Client
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client
from mcp.server.mcpserver import Context

from polar_orders_mcp.server import gate
from polar_orders_mcp.server.app import build_server
from polar_orders_mcp.server.http import http_app
from polar_orders_mcp.server.identity import caller, session_fingerprint
from polar_orders_mcp.settings import Settings
from tests.reliability.processes import MCP_HEADERS, Session
from tests.server.conftest import serve_in_thread

pytestmark = pytest.mark.anyio

ALICE = "alice-token-0123456789abcdef"
BOB = "bob-token-0123456789abcdefgh"
CLIENTS = f"alice:{ALICE},bob:{BOB}"
NOT_FOUND = '{"jsonrpc": "2.0", "id": null, "error": {"code": -32600, "message": "Session not found"}}'


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def whoami(ctx: Context[Any, Any]) -> dict[str, Any]:
    """The caller of this call."""
    return asdict(caller(ctx))


@pytest.fixture
def start(emulator: Any) -> Callable[..., Any]:
    """Our server on loopback with the named clients alice and bob, and a `whoami` probe tool."""

    @contextmanager
    def run(transport: str = "http", **settings: Any) -> Iterator[str]:
        config = Settings(emulator=True, transport=transport, **{"http_tokens": CLIENTS, **settings})
        server = build_server(config, transport=httpx2.ASGITransport(app=emulator))
        server.tool(name="whoami")(whoami)
        with serve_in_thread(http_app(server, config)) as url:
            yield url

    return run


def recording_client(token: str, seen: list[str]) -> httpx2.AsyncClient:
    """An HTTP client that notes every mcp-session-id the server hands it."""

    async def note(response: httpx2.Response) -> None:
        if "mcp-session-id" in response.headers:
            seen.append(response.headers["mcp-session-id"])

    return httpx2.AsyncClient(headers=bearer(token), timeout=30, event_hooks={"response": [note]})


# -- who is calling ----------------------------------------------------------------------------------------


async def test_a_tool_learns_the_name_of_the_credential_and_the_session(start: Any) -> None:
    seen: list[str] = []
    with start("http") as url:
        http = recording_client(ALICE, seen)
        async with Client(streamable_http_client(f"{url}/mcp", http_client=http), mode="legacy") as client:
            legacy = (await client.call_tool("whoami", {})).structured_content
        http = httpx2.AsyncClient(headers=bearer(BOB), timeout=30)
        async with Client(streamable_http_client(f"{url}/mcp", http_client=http), mode="auto") as client:
            modern = (await client.call_tool("whoami", {})).structured_content
    assert legacy == {"client": "alice", "session": session_fingerprint(seen[0]), "person": None, "declared": "mcp"}
    # The stateless 2026 era has no session.
    assert modern == {"client": "bob", "session": None, "person": None, "declared": "mcp"}


async def test_an_sse_call_carries_its_client_and_its_sse_session(start: Any) -> None:
    with start("sse") as url:
        async with Client(sse_client(f"{url}/sse", headers=bearer(BOB)), mode="legacy") as client:
            first = (await client.call_tool("whoami", {})).structured_content
            second = (await client.call_tool("whoami", {})).structured_content
    assert first is not None and first["client"] == "bob"
    assert first == second and re.fullmatch(r"s_[0-9a-f]{24}", first["session"])


async def test_the_single_token_is_the_default_client_and_stdio_is_stdio(emulator: Any) -> None:
    config = Settings(emulator=True, transport="http", http_token=ALICE)
    server = build_server(config, transport=httpx2.ASGITransport(app=emulator))
    server.tool(name="whoami")(whoami)
    async with Client(server) as client:
        in_process = (await client.call_tool("whoami", {})).structured_content
    with serve_in_thread(http_app(server, config)) as url:
        http = httpx2.AsyncClient(headers=bearer(ALICE), timeout=30)
        async with Client(streamable_http_client(f"{url}/mcp", http_client=http), mode="auto") as client:
            over_http = (await client.call_tool("whoami", {})).structured_content
    assert in_process == {"client": "stdio", "session": None, "person": None, "declared": "mcp"}
    assert over_http == {"client": "default", "session": None, "person": None, "declared": "mcp"}


async def test_no_auth_callers_are_anonymous(emulator: Any) -> None:
    config = Settings(emulator=True, transport="http", no_auth=True)
    server = build_server(config, transport=httpx2.ASGITransport(app=emulator))
    server.tool(name="whoami")(whoami)
    with serve_in_thread(http_app(server, config)) as url:
        async with Client(streamable_http_client(f"{url}/mcp"), mode="auto") as client:
            answer = (await client.call_tool("whoami", {})).structured_content
    assert answer == {"client": "anonymous", "session": None, "person": None, "declared": "mcp"}


async def test_every_configured_token_is_compared_whichever_matches(monkeypatch: pytest.MonkeyPatch) -> None:
    compared: list[bytes] = []
    real = gate.hmac.compare_digest

    def counting(given: bytes, expected: bytes) -> bool:
        compared.append(expected)
        return real(given, expected)

    monkeypatch.setattr(gate.hmac, "compare_digest", counting)
    door = gate.Gate(
        app=None,  # type: ignore[arg-type]  # never reached: only the credential check runs
        transport="http",
        rules=gate.HostRules((), ()),
        credentials=gate.Credentials({"alice": ALICE, "bob": BOB}),
        sessions=None,  # type: ignore[arg-type]
    )
    for token, name in ((ALICE, "alice"), (BOB, "bob"), ("nope-" * 6, None)):
        compared.clear()
        grant = await door._authenticate(f"Bearer {token}".encode())
        assert (grant.client if grant is not None else None) == name
        assert compared == [f"Bearer {ALICE}".encode(), f"Bearer {BOB}".encode()]


# -- whose session is whose -----------------------------------------------------------------------------


async def test_another_credential_cannot_answer_an_elicitation_in_a_session_it_did_not_open(
    start: Any, emulator: Any
) -> None:
    """The finding: with alice's session id, bob answered alice's elicitation and the order was charged
    while alice's human was still deciding."""
    state = emulator.state.emulator
    order_id = state.seed_info.draft_orders["good_card"]
    seen: list[str] = []
    hijack: dict[str, Any] = {}

    with start("http", person_clients=["alice"]) as url:

        async def human(_ctx: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
            # While alice's human is deciding, bob posts an approving answer into alice's session.
            headers = {**MCP_HEADERS, **bearer(BOB), "mcp-session-id": seen[-1]}
            async with httpx2.AsyncClient(headers=headers, timeout=30) as bob:
                for request_id in range(5):
                    answer = {
                        "jsonrpc": "2.0",
                        "id": request_id,
                        "result": {"action": "accept", "content": {"amount": "15.00"}},
                    }
                    response = await bob.post(f"{url}/mcp", json=answer)
                    hijack[f"id {request_id}"] = (response.status_code, response.text)
            await anyio.sleep(0.2)
            hijack["order while alice decides"] = state.store.order(order_id).status
            return types.ElicitResult(action="decline")

        http = recording_client(ALICE, seen)
        transport = streamable_http_client(f"{url}/mcp", http_client=http)
        async with Client(transport, mode="legacy", elicitation_callback=human) as client:
            result = await client.call_tool("finalize_order", {"order_id": order_id})
    assert hijack == {
        **{f"id {n}": (404, NOT_FOUND) for n in range(5)},
        "order while alice decides": "draft",
    }
    assert result.is_error
    assert state.store.order(order_id).status == "draft"  # alice's human declined: nothing was charged


async def test_an_sse_session_refuses_another_credential(start: Any) -> None:
    with start("sse") as url, anyio.fail_after(30):
        async with (
            httpx2.AsyncClient(timeout=30) as http,
            http.stream("GET", f"{url}/sse", headers=bearer(ALICE)) as stream,
        ):
            session_id = await _sse_session_id(stream)
            message = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
            target = f"{url}/messages/?session_id={session_id}"
            headers = {"Content-Type": "application/json"}
            as_bob = await http.post(target, json=message, headers={**headers, **bearer(BOB)})
            as_alice = await http.post(target, json=message, headers={**headers, **bearer(ALICE)})
    assert (as_bob.status_code, as_bob.text) == (404, "Could not find session")
    assert as_alice.status_code == 202


async def _sse_session_id(stream: httpx2.Response) -> str:
    # Read by hand: leaving an `async for` over the lines early would close the stream.
    lines = stream.aiter_lines()
    while True:
        line = await lines.__anext__()
        if line.startswith("data:") and "session_id=" in line:
            stream.extensions["lines"] = lines  # kept, for reading the rest of the stream later
            return line.split("session_id=", 1)[1].strip()


# -- session caps and idle expiry -----------------------------------------------------------------------


async def _raw_initialize(http: httpx2.AsyncClient, url: str, token: str) -> httpx2.Response:
    init = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
    }
    return await http.post(f"{url}/mcp", json=init, headers={**MCP_HEADERS, **bearer(token)})


async def _ping(http: httpx2.AsyncClient, session: Session) -> int:
    message = {"jsonrpc": "2.0", "id": 99, "method": "ping"}
    response = await http.post(session.url, json=message, headers=session.headers)
    return response.status_code


async def test_a_client_at_its_cap_gives_up_its_idlest_session_and_others_are_untouched(start: Any) -> None:
    with start("http", max_sessions_per_client=2) as url:
        async with (
            httpx2.AsyncClient(headers=bearer(ALICE), timeout=30) as alice,
            httpx2.AsyncClient(headers=bearer(BOB), timeout=30) as bob,
        ):
            bobs = [await Session(bob, url).__aenter__() for _ in range(2)]
            first, second = Session(alice, url), Session(alice, url)
            await first.__aenter__()
            await second.__aenter__()
            await _ping(alice, first)  # first is now the most recently used, second the idlest
            third = await Session(alice, url).__aenter__()
            pings = [await _ping(alice, s) for s in (first, second, third)] + [await _ping(bob, s) for s in bobs]
    assert pings == [200, 404, 200, 200, 200]


async def test_a_client_whose_sessions_are_all_busy_is_refused_a_new_one(start: Any) -> None:
    with start("http", max_sessions_per_client=2) as url, anyio.fail_after(30):
        async with httpx2.AsyncClient(headers=bearer(ALICE), timeout=30) as alice:
            sessions = [await Session(alice, url).__aenter__() for _ in range(2)]
            async with (
                # A standing GET stream keeps each session busy.
                alice.stream("GET", sessions[0].url, headers={**sessions[0].headers, "Accept": "text/event-stream"}),
                alice.stream("GET", sessions[1].url, headers={**sessions[1].headers, "Accept": "text/event-stream"}),
            ):
                refused = await _raw_initialize(alice, url, ALICE)
            async with httpx2.AsyncClient(timeout=30) as bob:
                other = await _raw_initialize(bob, url, BOB)
    assert refused.status_code == 429
    assert refused.headers["retry-after"] == "30"
    assert refused.json()["error"]["message"] == (
        "HTTP client 'alice' already has 2 open MCP sessions, all busy: that is its limit "
        "(--max-sessions-per-client). End sessions it no longer uses (a DELETE of /mcp with their "
        "mcp-session-id, or closing an SSE stream), or try again when one ends."
    )
    assert other.status_code == 200


async def test_when_the_server_is_full_the_biggest_holder_gives_up_a_session(start: Any) -> None:
    with start("http", max_sessions=3, max_sessions_per_client=10) as url:
        async with (
            httpx2.AsyncClient(headers=bearer(ALICE), timeout=30) as alice,
            httpx2.AsyncClient(headers=bearer(BOB), timeout=30) as bob,
        ):
            flood = [await Session(alice, url).__aenter__() for _ in range(2)]
            bobs = await Session(bob, url).__aenter__()
            newcomer = await Session(bob, url).__aenter__()
            pings = [await _ping(alice, s) for s in flood] + [await _ping(bob, s) for s in (bobs, newcomer)]
    assert pings == [404, 200, 200, 200]


async def test_an_idle_session_expires_and_frees_its_place(start: Any) -> None:
    with start("http", max_sessions_per_client=1, session_idle_timeout=0.5) as url:
        async with httpx2.AsyncClient(headers=bearer(ALICE), timeout=30) as alice:
            session = await Session(alice, url).__aenter__()
            assert await _ping(alice, session) == 200
            await anyio.sleep(1.5)
            expired = await _ping(alice, session)
            fresh = await Session(alice, url).__aenter__()
            assert await _ping(alice, fresh) == 200
    assert expired == 404


async def test_sse_sessions_are_capped_per_client_and_end_when_idle(start: Any) -> None:
    with start("sse", max_sessions_per_client=1, session_idle_timeout=1.0) as url, anyio.fail_after(30):
        async with (
            httpx2.AsyncClient(headers=bearer(ALICE), timeout=30) as alice,
            alice.stream("GET", f"{url}/sse") as first,
        ):
            first_id = await _sse_session_id(first)
            async with alice.stream("GET", f"{url}/sse") as second:
                second_id = await _sse_session_id(second)
                # Room was made for the second stream by ending the first: reading it to its end returns.
                async for _ in first.extensions["lines"]:
                    pass
                message = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
                gone = await alice.post(f"{url}/messages/?session_id={first_id}", json=message)
                started = anyio.current_time()
                rest = [line async for line in second.extensions["lines"]]  # ends once idle for 1 s
                lasted = anyio.current_time() - started
                after = await alice.post(f"{url}/messages/?session_id={second_id}", json=message)
    assert first_id != second_id
    assert (gone.status_code, gone.text) == (404, "Could not find session")
    assert 0.5 < lasted < 10, lasted
    assert not any("session_id" in line for line in rest)
    assert after.status_code == 404


# -- refused at the door -----------------------------------------------------------------------------------


async def test_a_websocket_is_refused_before_any_check_could_be_skipped(emulator: Any) -> None:
    config = Settings(emulator=True, transport="sse", http_token=ALICE)
    app = http_app(build_server(config, transport=httpx2.ASGITransport(app=emulator)), config)
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "websocket.connect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "websocket", "path": "/sse", "headers": [(b"host", b"evil.example")], "query_string": b""}
    await app(scope, receive, send)
    assert sent == [{"type": "websocket.close", "code": 1008, "reason": "Only HTTP is served here."}]


async def test_no_live_session_id_is_written_in_the_audit_or_the_store(
    start: Any, emulator: Any, tmp_path: Any
) -> None:
    """The finding: a second client of one shared token read A's session id from the audit file and answered A's
    confirmation request. What is written stands for the session and cannot answer for it."""
    seen: list[str] = []
    audit = tmp_path / "audit.jsonl"
    order_id = emulator.state.emulator.seed_info.draft_orders["good_card"]
    with start("http", audit_log=str(audit), state_dir=tmp_path / "state", approver_token="a" * 32) as url:
        http = recording_client(ALICE, seen)
        async with Client(streamable_http_client(f"{url}/mcp", http_client=http), mode="legacy") as client:
            asked = await client.call_tool("finalize_order", {"order_id": order_id})
    store_files = sorted((tmp_path / "state").glob("state.db*"))  # the database and its write-ahead log
    written = audit.read_text() + "".join(f.read_bytes().decode("latin-1") for f in store_files)
    assert not asked.is_error and seen
    assert seen[0] not in written
    assert session_fingerprint(seen[0]) in audit.read_text()
