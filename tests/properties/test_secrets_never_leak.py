"""Secrets never leak: not the Polar token, the customer session, the confirmation secret or the HTTP token.

Each secret is a canary. The server talks to the emulator with a canary organization token (or, in
customer mode, a canary customer session) that the emulator accepts, rejects (so every 401 path runs),
or accepts behind a Polar that fails every request in turn (5xx, 429, dropped connections, truncated
and malformed bodies, so every retry and error path runs); a fourth variant points at a port where
nothing listens. Every tool is called with valid and invalid arguments, irreversible ones through
preview, token and elicitation. Over streamable HTTP, requests come with no bearer, wrong ones, near
misses of the canary HTTP token, the right one with a foreign Host or Origin, and a real MCP session.

Everything an agent, an operator or a log reader could see is collected: every log record at DEBUG
(message, arguments, traceback), the audit log file, what reached stdout and stderr, every tool
result (text, structured content, embedded resources), every question a person was asked, every HTTP
response (status, headers, body) and every exception text. None may contain a canary, its base64, or
the first nine characters of its secret part. Checkout client secrets, credentials of their own, may
show in tool results (the agent needs them) but never in a log line or the audit log.
"""

from __future__ import annotations

import base64
import json
import logging
import traceback
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2
import mcp_types as types
import pytest
from mcp.client import Client
from mcp.client.streamable_http import streamable_http_client

from polar_orders_mcp.emulator.models import CustomerSession
from polar_orders_mcp.emulator.seed import ORG_TOKEN
from polar_orders_mcp.polar import retries
from polar_orders_mcp.server.app import build_server
from polar_orders_mcp.server.http import http_app
from polar_orders_mcp.settings import Settings
from tests.approvals.form_person import typed_yes
from tests.properties.conftest import quiet_emulator, serve_on_loopback

pytestmark = pytest.mark.anyio

POLAR_CANARY = "polar_oat_CANARYq7ZpL2mXv9RtK4wNs8BdJ3hYf6GcU1aE"
SESSION_CANARY = "polar_cst_CANARYb5TnW8kLq2VzR7xMd4PfH9sJc3GyA6eU"
CONFIRM_CANARY = "CANARYconfirm-Xr4Kp9LmQ2wZt7VbN5sHd8JfG3cYa6Ue"
HTTP_CANARY = "CANARYhttp-Mv3Qz8LpT5wKr2XnB9dSf7HjG4cYa6Ue1t"
POLAR_URL = "http://polar.test"
FAULTS = ("status", "rate_limit", "drop_before", "drop_after", "truncate", "malformed", "slow_body")
HOSTILE_ARGS: tuple[dict[str, Any], ...] = ({}, {"order_id": "../../x", "checkout_id": 5, "client_secret": "\x00"})


def markers(canary: str) -> list[str]:
    """What a leak of the canary looks like: itself, its base64, or the start of its secret part."""
    secret = canary.removeprefix("polar_oat_").removeprefix("polar_cst_")
    found = [canary, secret[:9]]
    for text in (canary, secret):
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            found.append(encode(text.encode()).decode().rstrip("=")[:-4])  # the tail depends on what follows
    return found


LEAKS = {
    name: markers(value)
    for name, value in [
        ("Polar token", POLAR_CANARY),
        ("customer session", SESSION_CANARY),
        ("confirmation secret", CONFIRM_CANARY),
        ("HTTP token", HTTP_CANARY),
    ]
}


@dataclass
class Seen:
    """Everything that came out, labelled by where it came from."""

    texts: list[tuple[str, str]] = field(default_factory=list)
    asked: list[str] = field(default_factory=list)
    tools: set[str] = field(default_factory=set)

    def add(self, where: str, text: str) -> None:
        self.texts.append((where, text))

    def result(self, tool: str, result: types.CallToolResult) -> None:
        self.tools.add(tool)
        for content in result.content:
            if isinstance(content, types.TextContent):
                self.add(f"{tool} text", content.text)
            elif isinstance(content, types.EmbeddedResource):
                self.add(f"{tool} resource", content.resource.model_dump_json())
        self.add(f"{tool} structured", json.dumps(result.structured_content))

    async def human(self, _ctx: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        self.asked.append(params.message)
        self.add("question to a person", params.message)
        return typed_yes(params)


def assert_no_leak(seen: Iterable[tuple[str, str]], leaks: dict[str, list[str]] = LEAKS) -> None:
    for where, text in seen:
        for name, forms in leaks.items():
            for form in forms:
                assert form not in text, f"the {name} leaked ({form!r}) in {where}: {text[:500]!r}"


def log_lines(caplog: pytest.LogCaptureFixture) -> Iterator[tuple[str, str]]:
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    for record in caplog.records:
        yield f"log {record.name}", formatter.format(record)
        yield f"log {record.name} args", repr(record.args)


class Calls:
    """Calls every tool of one server, valid and invalid, and keeps what came out."""

    def __init__(self, client: Client, seen: Seen, before: Callable[[], None] | None = None) -> None:
        self.client, self.seen, self.before = client, seen, before

    async def __call__(self, tool: str, args: dict[str, Any]) -> dict[str, Any]:
        if self.before is not None:
            self.before()
        try:
            result = await self.client.call_tool(tool, args)
        except Exception as exc:  # a protocol error is another place a secret could show
            self.seen.add(f"{tool} exception", "".join(traceback.format_exception(exc)))
            return {}
        self.seen.result(tool, result)
        return result.structured_content or {}

    async def irreversible(self, tool: str, args: dict[str, Any]) -> None:
        """Preview, then a garbage token, then the genuine one."""
        preview = await self(tool, args)
        await self(tool, {**args, "confirmation_token": "pc1.garbage.token"})
        if token := preview.get("confirmation_token"):
            await self(tool, {**args, "confirmation_token": token})


async def organization_calls(call: Calls, emulator: Any) -> None:
    seed = emulator.state.emulator.seed_info
    good, fixed, paid = seed.customers["good_card"], seed.products["one_time_fixed"], seed.paid_order_id
    unknown = str(uuid.uuid4())
    for tool, args in [
        ("list_orders", {"customer_id": good, "metadata": {"kind": "paid"}, "detail": "full"}),
        ("list_orders", {"limit": 0}),
        ("get_order", {"order_id": paid, "detail": "full"}),
        ("get_order", {"order_id": unknown}),
        ("create_order", {"customer_id": seed.customers["no_billing_address"], "product_id": fixed}),
        ("create_order", {"customer_id": good, "product_id": fixed, "metadata": {"ticket": "T-1"}}),
        ("update_order", {"order_id": paid, "billing_name": "Ada Good Ltd"}),
        ("update_order", {"order_id": paid, "billing_address": {"country": "FR"}}),
        ("get_receipt", {"order_id": paid}),
        ("get_receipt", {"order_id": seed.draft_orders["good_card"]}),
        ("get_invoice", {"order_id": paid}),
        ("export_orders", {"status": ["paid"], "columns": ["email", "total_amount"]}),
        ("export_orders", {"timezone": "Nowhere/Nothing"}),
        ("list_checkouts", {"status": ["open"]}),
        ("get_checkout", {"checkout_id": seed.open_checkout_id, "detail": "full"}),
        ("get_checkout", {"checkout_id": unknown}),
        ("update_checkout", {"checkout_id": seed.expired_checkout_id, "customer_name": "Late"}),
        ("get_checkout_by_secret", {"client_secret": seed.expired_checkout_client_secret}),
        ("update_checkout_by_secret", {"client_secret": seed.open_checkout_client_secret, "customer_name": "Ada"}),
        ("find_customers", {"email": "good-card@example.com"}),
        ("find_customers", {}),
        ("get_customer", {"customer_id": good, "detail": "full"}),
        ("get_customer", {"customer_id": unknown}),
        ("list_products", {"kind": "one_time"}),
        ("create_customer_session", {"customer_id": good}),
        ("create_customer_session", {}),
    ]:
        await call(tool, args)
    checkout = await call("create_checkout", {"products": [fixed], "customer_id": good})
    await call("create_checkout", {"products": [unknown]})
    if checkout.get("id"):
        await call("update_checkout", {"checkout_id": checkout["id"], "customer_name": "Ada"})
    for order_id in (seed.draft_orders["good_card"], seed.draft_orders["declining_card"], paid):
        await call.irreversible("finalize_order", {"order_id": order_id})
    await call.irreversible("generate_invoice", {"order_id": paid})
    for secret in (checkout.get("client_secret"), seed.open_checkout_client_secret):
        if secret:
            await call.irreversible("confirm_checkout", {"client_secret": secret, "payment_token": "tok_visa"})
    await call.irreversible("confirm_checkout", {"client_secret": "polar_c_unknown"})


async def customer_calls(call: Calls, emulator: Any) -> None:
    seed = emulator.state.emulator.seed_info
    paid, unknown = seed.paid_order_id, str(uuid.uuid4())
    for tool, args in [
        ("list_my_orders", {"product_name": "Starter"}),
        ("get_my_order", {"order_id": paid}),
        ("get_my_order", {"order_id": unknown}),
        ("update_my_billing_details", {"order_id": paid, "billing_name": "Ada Good"}),
        ("update_my_billing_details", {"order_id": paid}),
        ("get_my_invoice", {"order_id": paid}),
        ("get_my_receipt", {"order_id": paid}),
        ("get_my_receipt", {"order_id": unknown}),
    ]:
        await call(tool, args)
    await call.irreversible("request_my_invoice", {"order_id": paid})


def canary_emulator(variant: str) -> Any:
    """The emulator, holding the canary token and session as live credentials unless they must be rejected."""
    emulator = quiet_emulator()
    state = emulator.state.emulator
    if variant != "rejected":
        state.store.tokens[POLAR_CANARY] = state.store.tokens[ORG_TOKEN]
        customer = state.store.customers[state.seed_info.customers["good_card"]]
        now = state.now()
        state.store.sessions[SESSION_CANARY] = CustomerSession(
            "canary", SESSION_CANARY, customer, now, now.replace(year=now.year + 1)
        )
    return emulator


def canary_server(emulator: Any, variant: str, customer_mode: bool, audit: Path) -> Any:
    credential = {"customer_session": SESSION_CANARY} if customer_mode else {"access_token": POLAR_CANARY}
    unreachable = variant == "unreachable"
    settings = Settings(
        **credential,
        server="http://127.0.0.1:9" if unreachable else POLAR_URL,  # the discard port: nothing answers there
        confirm_secret=CONFIRM_CANARY,
        audit_log=str(audit),
        log_level="DEBUG",
        max_retries=1,
        timeout=2,
    )
    return build_server(settings, transport=None if unreachable else httpx2.ASGITransport(app=emulator))


class FailEveryRequest:
    """Before each call, Polar is told to fail its next requests in a new way."""

    def __init__(self, emulator: Any) -> None:
        self.plan = emulator.state.emulator.faults
        self.turn = 0

    def arm(self) -> None:
        kind = FAULTS[self.turn % len(FAULTS)]
        self.plan.add(kind, "/v1/*", count=2, status=(500, 502, 503)[self.turn % 3], retry_after=0.01, seconds=0.01)
        self.turn += 1


@pytest.mark.parametrize("variant", ["accepted", "rejected", "failing", "unreachable"])
async def test_no_secret_in_results_logs_or_audit(
    variant: str,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    caplog.set_level(logging.DEBUG)
    monkeypatch.setattr(retries, "INITIAL_BACKOFF", 0.001)  # the retry paths run, without their waits
    emulator = canary_emulator(variant)
    seen = Seen()
    audit = tmp_path / "audit.jsonl"
    faults = FailEveryRequest(emulator) if variant == "failing" else None
    for customer_mode, calls in ((False, organization_calls), (True, customer_calls)):
        server = canary_server(emulator, variant, customer_mode, audit)
        async with AsyncExitStack() as stack:
            tokens = await stack.enter_async_context(Client(server, mode="auto"))
            legacy = await stack.enter_async_context(Client(server, mode="legacy", elicitation_callback=seen.human))
            for client in (tokens, legacy):
                call = Calls(client, seen, before=faults.arm if faults else None)
                await calls(call, emulator)
                for tool in [t.name for t in (await client.list_tools()).tools]:
                    for args in HOSTILE_ARGS:
                        await call(tool, args)
            if not customer_mode:
                await read_order_resource(tokens, emulator.state.emulator.seed_info.paid_order_id, seen)
        served = {t.name for t in (await _list_tools(server))}
        assert served <= seen.tools, f"tools never called: {sorted(served - seen.tools)}"

    audit_text = audit.read_text()
    captured = capfd.readouterr()
    logs = list(log_lines(caplog))
    everything = [*seen.texts, ("audit log", audit_text), ("stdout", captured.out), ("stderr", captured.err), *logs]
    assert_no_leak(everything)
    # Client secrets are for results only: never in a log line or the audit log.
    secrets = [s for s in emulator.state.emulator.store.checkouts_by_secret]
    assert_no_leak([("audit log", audit_text), *logs], {"checkout client secret": secrets})
    # Not vacuous: results, log records and audit lines were all there to look at.
    assert len(seen.texts) > 200 and len(logs) > 50 and audit_text.count("\n") > 20, (len(seen.texts), len(logs))
    if variant == "accepted":
        assert seen.asked, "no person was ever asked"
        assert any('"status":"charged"' in text.replace(" ", "") for _, text in seen.texts), "nothing was charged"
    if variant == "rejected":
        assert any("401" in text for _, text in seen.texts)


async def read_order_resource(client: Client, order_id: str, seen: Seen) -> None:
    try:
        seen.add("resource", (await client.read_resource(f"polar://orders/{order_id}")).model_dump_json())
    except Exception as exc:  # a failed read is a protocol error, with a message of its own
        seen.add("resource exception", "".join(traceback.format_exception(exc)))


async def _list_tools(server: Any) -> list[types.Tool]:
    async with Client(server) as client:
        return (await client.list_tools()).tools


def bearer_attempts() -> list[dict[str, str]]:
    """Authorization headers that must all be refused, the canary's near misses among them (the scheme's case is
    no miss: `bearer` is `Bearer`, RFC 9110)."""
    basic = base64.b64encode(f"user:{HTTP_CANARY}".encode()).decode()
    return [
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": f"Bearer {HTTP_CANARY[:-1]}"},
        {"Authorization": f"Bearer {HTTP_CANARY}x"},
        {"Authorization": f"Bearer{HTTP_CANARY}"},
        {"Authorization": f"Basic {basic}"},
        {"Authorization": HTTP_CANARY},
        {"Authorization": f"Bearer {POLAR_CANARY}"},
    ]


async def test_no_secret_over_http(caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]) -> None:
    caplog.set_level(logging.DEBUG)
    emulator = canary_emulator("accepted")
    settings = Settings(
        access_token=POLAR_CANARY,
        server=POLAR_URL,
        confirm_secret=CONFIRM_CANARY,
        transport="http",
        http_token=HTTP_CANARY,
        log_level="DEBUG",
        audit_log="/dev/null",
    )
    server = build_server(settings, transport=httpx2.ASGITransport(app=emulator))
    seen = Seen()
    init = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
    }
    accept = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
    right = {"Authorization": f"Bearer {HTTP_CANARY}"}
    with serve_on_loopback(http_app(server, settings)) as url:
        async with httpx2.AsyncClient(base_url=url, timeout=10) as http:
            # (method, path, headers, the status each must get)
            requests = [("POST", "/mcp", headers, 401) for headers in bearer_attempts()]
            requests += [("GET", "/mcp", {}, 401), ("GET", "/healthz", {}, 200), ("GET", "/nowhere", right, 404)]
            requests += [("POST", "/mcp", {**right, "Host": "evil.example"}, 421)]
            requests += [("POST", "/mcp", {**right, "Origin": "http://evil.example"}, 403)]
            for method, path, headers, status in requests:
                response = await http.request(method, path, headers={**accept, **headers}, json=init)
                answer = f"{response.status_code} {response.headers} {response.text}"
                seen.add(f"{method} {path} {sorted(headers)}", answer)
                assert response.status_code == status, (method, path, headers, response.status_code)
        http_client = httpx2.AsyncClient(headers=right, timeout=30)
        async with Client(streamable_http_client(f"{url}/mcp", http_client=http_client), mode="legacy") as client:
            call = Calls(client, seen)
            await call("list_orders", {"limit": 2})
            await call("get_order", {"order_id": str(uuid.uuid4())})
            await call.irreversible(
                "finalize_order", {"order_id": emulator.state.emulator.seed_info.draft_orders["good_card"]}
            )
    captured = capfd.readouterr()
    logs = list(log_lines(caplog))
    assert_no_leak([*seen.texts, ("stdout", captured.out), ("stderr", captured.err), *logs])
    assert any("/mcp" in line for _, line in logs), "uvicorn's request log was not captured"
