"""The approval console over HTTP: sign-in, cookies, CSRF, origins, hosts, escaping — what a hostile page tries."""

from __future__ import annotations

import hashlib
import re
from html import escape
from typing import Any

import httpx2
import pytest
from mcp.client import Client

from polar_orders_mcp.approvals.console import console_app
from polar_orders_mcp.emulator.seed import SeedInfo
from polar_orders_mcp.emulator.state import EmulatorState
from polar_orders_mcp.server.app import ServerParts
from polar_orders_mcp.tools.registry import ALL_TOOLS
from tests.approvals.console_client import APPROVER_SECRET, Person
from tests.tools.conftest import call

pytestmark = pytest.mark.anyio

ORIGIN = "http://127.0.0.1:8765"


def browser(parts: ServerParts, **kwargs: Any) -> httpx2.AsyncClient:
    return httpx2.AsyncClient(
        transport=httpx2.ASGITransport(app=console_app(parts.console)),
        base_url=ORIGIN,
        follow_redirects=False,
        **kwargs,
    )


async def pending_request(parts: ServerParts, seed: SeedInfo) -> str:
    async with Client(parts.server) as client:
        return str(
            (await call(client, "finalize_order", {"order_id": seed.draft_orders["good_card"]}))["approval"][
                "approval_id"
            ]
        )


async def approval_state(parts: ServerParts, approval_id: str) -> str:
    approval = await (await parts.store()).get_approval(approval_id)
    assert approval is not None
    return approval.state


async def test_every_page_needs_a_signed_in_approver(parts: ServerParts, seed: SeedInfo) -> None:
    approval_id = await pending_request(parts, seed)
    async with browser(parts) as http:
        index = await http.get("/approvals")
        page = await http.get(f"/approvals/{approval_id}")
        post = await http.post(f"/approvals/{approval_id}", data={"csrf": "x", "decision": "approve"})
    assert index.status_code == 303 and index.headers["location"] == "/approvals/login?next=/approvals"
    assert page.status_code == 303 and page.headers["location"] == f"/approvals/login?next=/approvals/{approval_id}"
    assert post.status_code == 303 and "Charge" not in post.text
    assert await approval_state(parts, approval_id) == "pending"


async def test_signing_in_gives_an_httponly_strict_cookie_and_no_secret_in_any_url(parts: ServerParts) -> None:
    async with Person(parts.console) as person:
        login = await person.http.get("/approvals/login")
        signed = await person.sign_in()
    assert 'type="password"' in login.text and APPROVER_SECRET not in login.text
    cookie = signed.headers["set-cookie"]
    assert cookie.startswith("pom_console=") and "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert "Path=/approvals" in cookie
    assert signed.status_code == 303 and signed.headers["location"] == "/approvals"
    assert APPROVER_SECRET not in signed.headers["location"] and APPROVER_SECRET not in cookie


async def test_sign_in_needs_the_forms_own_token(parts: ServerParts) -> None:
    async with browser(parts) as http:
        forged = await http.post("/approvals/login", data={"csrf": "forged", "secret": APPROVER_SECRET})
    assert forged.status_code == 403 and "pom_console" not in forged.headers.get("set-cookie", "")


async def test_a_decision_needs_the_sessions_csrf_token(parts: ServerParts, person: Person, seed: SeedInfo) -> None:
    approval_id = await pending_request(parts, seed)
    await person.sign_in()
    refused = await person.http.post(
        f"/approvals/{approval_id}", data={"csrf": "forged", "decision": "approve"}, headers={"Origin": ORIGIN}
    )
    assert refused.status_code == 403 and "out of date" in refused.text
    assert await approval_state(parts, approval_id) == "pending"


async def test_a_decision_posted_from_another_site_is_refused(
    parts: ServerParts, person: Person, seed: SeedInfo
) -> None:
    approval_id = await pending_request(parts, seed)
    await person.sign_in()
    page = await person.http.get(f"/approvals/{approval_id}")
    csrf = re.search(r'name="csrf" value="([^"]*)"', page.text)
    assert csrf
    for origin in ("https://evil.example", "null"):
        refused = await person.http.post(
            f"/approvals/{approval_id}", data={"csrf": csrf.group(1), "decision": "approve"}, headers={"Origin": origin}
        )
        assert refused.status_code == 403
    assert await approval_state(parts, approval_id) == "pending"


async def test_an_unknown_host_is_refused(parts: ServerParts) -> None:
    async with browser(parts) as http:
        rebound = await http.get("/approvals/login", headers={"Host": "evil.example"})
    assert rebound.status_code == 421


async def test_the_page_escapes_and_labels_what_customers_wrote(
    parts: ServerParts, person: Person, seed: SeedInfo, state: EmulatorState
) -> None:
    customer = state.store.order(seed.draft_orders["good_card"]).customer
    customer.name = '<script>alert("pwned")</script><img src=x onerror=alert(1)>'
    approval_id = await pending_request(parts, seed)
    await person.sign_in()
    page = await person.http.get(f"/approvals/{approval_id}")
    assert "<script>" not in page.text and "<img" not in page.text
    assert "&lt;script&gt;alert(&quot;pwned&quot;)&lt;/script&gt;" in page.text
    name_row = re.search(r"<dt>Customer name</dt><dd>(.*?)</dd>", page.text)
    assert name_row and "as the customer entered it" in name_row.group(1)
    assert page.headers["content-security-policy"].startswith("default-src 'none'")
    assert page.headers["x-frame-options"] == "DENY" and page.headers["cache-control"] == "no-store"


async def test_the_list_shows_pending_requests_with_their_facts_and_the_decisions(
    parts: ServerParts, person: Person, seed: SeedInfo
) -> None:
    approval_id = await pending_request(parts, seed)
    await person.sign_in()
    listing = await person.http.get("/approvals")
    assert "$15.00" in listing.text and "good-card@example.com" in listing.text and "visa •••• 4242" in listing.text
    assert f'action="/approvals/{approval_id}"' in listing.text and "No decisions yet." in listing.text
    await person.approve(approval_id)
    after = await person.http.get("/approvals")
    assert "Nothing is waiting for a decision." in after.text
    assert "Approved, not used yet</span> by approver" in after.text


async def test_signing_out_ends_the_session(parts: ServerParts, person: Person) -> None:
    await person.sign_in()
    page = await person.http.get("/approvals")
    csrf = re.search(r'action="/approvals/logout"><input type="hidden" name="csrf" value="([^"]*)"', page.text)
    assert csrf
    cookie = person.http.cookies["pom_console"]
    out = await person.http.post("/approvals/logout", data={"csrf": csrf.group(1)}, headers={"Origin": ORIGIN})
    assert out.status_code == 303
    async with browser(parts, cookies={"pom_console": cookie}) as replay:  # the old cookie, kept by someone
        assert (await replay.get("/approvals")).status_code == 303


async def test_without_an_approver_the_console_says_how_to_configure_one(make_parts: Any) -> None:
    parts: ServerParts = make_parts(approver_token=None)
    async with browser(parts) as http:
        login = await http.get("/approvals/login")
    assert login.status_code == 503
    assert "set POLAR_MCP_APPROVER_TOKEN (one approver) or POLAR_MCP_APPROVERS=name:secret,…" in login.text


async def test_named_approvers_are_recorded_by_name(make_parts: Any, seed: SeedInfo) -> None:
    parts: ServerParts = make_parts(approver_token=None, approvers="ada:ada-secret-0123456,bob:bob-secret-0123456")
    approval_id = await pending_request(parts, seed)
    async with Person(parts.console, secret="bob-secret-0123456") as bob:
        assert (await bob.approve(approval_id)).status_code == 303
    approval = await (await parts.store()).get_approval(approval_id)
    assert approval is not None and approval.decided_by == "bob"


async def test_a_request_answered_in_the_client_is_not_decided_here(
    parts: ServerParts, person: Person, seed: SeedInfo
) -> None:
    store = await parts.store()
    from polar_orders_mcp.store.records import NewApproval

    asked_in_a_client = await store.create_approval(
        NewApproval(
            tool="finalize_order",
            target=seed.draft_orders["good_card"],
            digest="d" * 64,
            facts={},
            summary="Charge",
            message="Charge",
            display=[],
            amount=1500,
            currency="usd",
            client="stdio",
            session=None,
            channel="form",
            ttl=900,
        )
    )
    await person.sign_in()
    page = await person.http.get(f"/approvals/{asked_in_a_client.id}")
    csrf = re.search(r'name="csrf" value="([^"]*)"', page.text)
    assert csrf and "Being answered in the client" in page.text
    refused = await person.http.post(
        f"/approvals/{asked_in_a_client.id}",
        data={"csrf": csrf.group(1), "decision": "approve"},
        headers={"Origin": ORIGIN},
    )
    assert refused.status_code == 409
    assert await approval_state(parts, asked_in_a_client.id) == "pending"


async def test_a_session_of_an_approver_no_longer_configured_decides_nothing(
    parts: ServerParts, seed: SeedInfo
) -> None:
    """A session signed in by an approver since removed from the server's configuration is signed out."""
    approval_id = await pending_request(parts, seed)
    token = "a-session-token-of-a-removed-approver"
    await (await parts.store()).create_console_session(
        token_hash=hashlib.sha256(token.encode()).hexdigest(), approver="removed", csrf="c" * 32, ttl=3600
    )
    async with browser(parts, cookies={"pom_console": token}) as http:
        answer = await http.post(
            f"/approvals/{approval_id}", data={"csrf": "c" * 32, "decision": "approve"}, headers={"Origin": ORIGIN}
        )
    assert (answer.status_code, answer.headers["location"], await approval_state(parts, approval_id)) == (
        303,
        f"/approvals/login?next=/approvals/{approval_id}",
        "pending",
    )


class CountingBody:
    """A request body that counts how much of it was read: what the console takes in before refusing."""

    def __init__(self, total: int, chunk: int = 64 * 1024) -> None:
        self.total, self.chunk, self.read = total, chunk, 0

    async def __aiter__(self) -> Any:
        while self.read < self.total:
            self.read += self.chunk
            yield b"a" * self.chunk


async def test_a_sign_in_without_the_forms_own_cookie_is_refused_before_its_body_is_read(parts: ServerParts) -> None:
    body = CountingBody(200 * 1024 * 1024)
    async with browser(parts) as http:
        refused = await http.post(
            "/approvals/login", content=body, headers={"Content-Type": "application/x-www-form-urlencoded"}
        )
    assert refused.status_code == 403
    assert body.read <= 128 * 1024  # what the transport hands over before the answer: not 200 MiB


async def test_a_console_form_larger_than_its_limit_is_refused_unread(parts: ServerParts) -> None:
    """A form is a token, a secret and a choice: 16 KiB is plenty, whatever the body says of its length."""
    async with browser(parts) as http:
        await http.get("/approvals/login")  # the sign-in form's own cookie
        declared = await http.post("/approvals/login", data={"csrf": "x", "secret": "s" * 20_000})
        chunked = CountingBody(200 * 1024 * 1024)
        streamed = await http.post(
            "/approvals/login", content=chunked, headers={"Content-Type": "application/x-www-form-urlencoded"}
        )
        other = await http.post("/approvals/login", files={"secret": ("s", b"x")})
    assert (declared.status_code, streamed.status_code, other.status_code) == (413, 413, 415)
    assert chunked.read <= 128 * 1024


async def test_rotating_the_approver_secret_ends_the_sessions_made_with_the_old_one(
    make_parts: Any, seed: SeedInfo
) -> None:
    """The finding: a session made before the secret was rotated approved a new charge after a restart."""
    before: ServerParts = make_parts(approver_token="the-secret-before-rotation-0123456789")
    async with Person(before.console, secret="the-secret-before-rotation-0123456789") as person:
        assert (await person.sign_in()).status_code == 303
        cookie = person.http.cookies["pom_console"]
        still = await person.http.get("/approvals")
    after: ServerParts = make_parts(approver_token="the-secret-after-rotation-9876543210")  # a restart, the same store
    approval_id = await pending_request(after, seed)
    async with browser(after, cookies={"pom_console": cookie}) as http:
        page = await http.get(f"/approvals/{approval_id}")
    assert still.status_code == 200
    assert (page.status_code, page.headers["location"]) == (303, f"/approvals/login?next=/approvals/{approval_id}")
    assert await approval_state(after, approval_id) == "pending"


async def test_a_session_cookie_without_its_binding_signs_nobody_in(parts: ServerParts, person: Person) -> None:
    await person.sign_in()
    token = person.http.cookies["pom_console"].rpartition(".")[0]
    async with browser(parts, cookies={"pom_console": token}) as http:
        bare = await http.get("/approvals")
    async with browser(parts, cookies={"pom_console": token + "." + "0" * 32}) as http:
        forged = await http.get("/approvals")
    assert (bare.status_code, forged.status_code) == (303, 303)


async def test_a_request_is_headed_by_its_tools_title_from_the_tool_table(
    parts: ServerParts, person: Person, seed: SeedInfo
) -> None:
    title = next(tool.title for tool in ALL_TOOLS if tool.name == "finalize_order")
    approval_id = await pending_request(parts, seed)
    await person.sign_in()
    listing = await person.http.get("/approvals")
    assert f'<a href="/approvals/{approval_id}">{escape(title)}</a>' in listing.text
    page = await person.http.get(f"/approvals/{approval_id}")
    assert f'<div class="kind">{escape(title)}</div>' in page.text
    await person.approve(approval_id)
    after = await person.http.get("/approvals")
    assert f"<td>{escape(title)}</td>" in after.text
