"""Checkout tools through the MCP protocol, including the guarded confirm."""

from __future__ import annotations

from typing import Any

import pytest
from mcp.client import Client
from mcp.server.mcpserver import MCPServer

from polar_orders_mcp.emulator.seed import SeedInfo
from polar_orders_mcp.emulator.state import EmulatorState
from tests.approvals.console_client import Person
from tests.tools.conftest import call, fail

pytestmark = pytest.mark.anyio


async def test_create_checkout_returns_a_link(server: MCPServer[Any], seed: SeedInfo, mode: str) -> None:
    async with Client(server, mode=mode) as client:
        checkout = await call(
            client,
            "create_checkout",
            {
                "products": [seed.products["one_time_fixed"]],
                "customer_email": "new@example.com",
                "metadata": {"ticket": "T-1"},
            },
        )
    assert checkout["status"] == "open"
    assert checkout["url"].startswith("http")
    assert checkout["client_secret"].startswith("polar_c_")
    assert checkout["client_secret_note"] == (
        "client_secret is a credential, like a password: pass it only to get_checkout_by_secret, "
        "update_checkout_by_secret and confirm_checkout; never show it to anyone or put it in a message. Send "
        "the customer the url instead."
    )
    assert checkout["customer_supplied"] == {
        "name": None,
        "email": "new@example.com",
        "billing_name": None,
        "billing_address": None,
        "description": None,
        "metadata": {"ticket": "T-1"},
    }


async def test_list_and_get_checkouts(server: MCPServer[Any], seed: SeedInfo) -> None:
    async with Client(server) as client:
        listing = await call(client, "list_checkouts", {"status": ["open"]})
        assert listing["items"] and {c["status"] for c in listing["items"]} == {"open"}
        one = await call(client, "get_checkout", {"checkout_id": seed.open_checkout_id})
    assert one["id"] == seed.open_checkout_id


async def test_update_checkout(server: MCPServer[Any], seed: SeedInfo) -> None:
    async with Client(server) as client:
        updated = await call(
            client,
            "update_checkout",
            {
                "checkout_id": seed.open_checkout_id,
                "customer_name": "Grace Hopper",
            },
        )
    assert updated["customer_supplied"]["name"] == "Grace Hopper"


async def test_client_secret_calls(server: MCPServer[Any], seed: SeedInfo) -> None:
    secret = seed.open_checkout_client_secret
    async with Client(server) as client:
        seen = await call(client, "get_checkout_by_secret", {"client_secret": secret})
        assert seen["id"] == seed.open_checkout_id
        filled = await call(
            client,
            "update_checkout_by_secret",
            {
                "client_secret": secret,
                "customer_name": "Payer Name",
            },
        )
    assert filled["customer_supplied"]["name"] == "Payer Name"


async def test_an_expired_checkout_says_gone(server: MCPServer[Any], seed: SeedInfo) -> None:
    async with Client(server) as client:
        message = await fail(client, "get_checkout_by_secret", {"client_secret": seed.expired_checkout_client_secret})
    assert "410" in message and "ExpiredCheckoutError" in message


async def test_confirm_checkout_needs_the_token_and_a_person(
    server: MCPServer[Any], person: Person, seed: SeedInfo, state: EmulatorState, mode: str
) -> None:
    secret = seed.open_checkout_client_secret
    async with Client(server, mode=mode) as client:
        await call(
            client,
            "update_checkout_by_secret",
            {
                "client_secret": secret,
                "customer_email": "p@example.com",
                "customer_billing_address": {
                    "country": "US",
                    "state": "US-NY",
                    "line1": "1 Main St",
                    "city": "New York",
                    "postal_code": "10001",
                },
            },
        )
        missing = await fail(client, "confirm_checkout", {"client_secret": secret})
        assert "needs payment_token" in missing
        preview = await call(client, "confirm_checkout", {"client_secret": secret, "payment_token": "tok_visa"})
        assert preview["status"] == "approval_pending"
        assert state.store.checkout(seed.open_checkout_id).status == "open"
        await person.approve(preview["approval"]["approval_id"])
        confirmed = await call(
            client,
            "confirm_checkout",
            {"client_secret": secret, "payment_token": "tok_visa", "approval_id": preview["approval"]["approval_id"]},
        )
    assert confirmed["status"] == "confirmed"
    # Polar moves a checkout from confirmed to succeeded once the payment went through; nothing read it since.
    assert state.store.checkout(seed.open_checkout_id).status == "confirmed"


async def test_confirm_of_an_expired_checkout_is_refused(server: MCPServer[Any], seed: SeedInfo) -> None:
    async with Client(server) as client:
        message = await fail(client, "confirm_checkout", {"client_secret": seed.expired_checkout_client_secret})
    assert message == (
        "Error executing tool confirm_checkout: ExpiredCheckoutError (HTTP 410) on GET /v1/checkouts/client/"
        f"polar_c_…{seed.expired_checkout_client_secret[-4:]}: This checkout session has expired. Hint: The checkout "
        "session has expired; create a new checkout."
    )


async def test_find_customers_and_get_customer(server: MCPServer[Any], seed: SeedInfo) -> None:
    async with Client(server) as client:
        found = await call(client, "find_customers", {"email": "good-card@example.com"})
        assert [c["id"] for c in found["items"]] == [seed.customers["good_card"]]
        by_external = await call(client, "find_customers", {"external_id": "emu_good_card"})
        assert [c["id"] for c in by_external["items"]] == [seed.customers["good_card"]]
        customer = await call(client, "get_customer", {"customer_id": seed.customers["good_card"]})
    methods = customer["payment_methods"]
    assert len(methods) == 1 and "•••• 4242" in methods[0]["label"] and methods[0]["default"]


async def test_find_customers_needs_a_criterion(server: MCPServer[Any]) -> None:
    async with Client(server) as client:
        message = await fail(client, "find_customers", {})
    assert "email, external_id or text" in message


async def test_list_products(server: MCPServer[Any]) -> None:
    async with Client(server) as client:
        one_time = await call(client, "list_products", {"kind": "one_time"})
        recurring = await call(client, "list_products", {"kind": "recurring"})
    assert one_time["items"] and not any(p["recurring"] for p in one_time["items"])
    assert recurring["items"] and all(p["recurring"] for p in recurring["items"])
    assert any(price["display"] == "$12.50" for p in one_time["items"] for price in p["prices"])


async def test_an_approval_is_bound_to_the_whole_payment_token(
    server: MCPServer[Any], person: Person, seed: SeedInfo, state: EmulatorState
) -> None:
    secret = seed.open_checkout_client_secret
    async with Client(server) as client:
        await call(
            client,
            "update_checkout_by_secret",
            {
                "client_secret": secret,
                "customer_email": "p@example.com",
                "customer_billing_address": {
                    "country": "US",
                    "state": "US-NY",
                    "line1": "1 Main St",
                    "city": "New York",
                    "postal_code": "10001",
                },
            },
        )
        approved = await call(
            client, "confirm_checkout", {"client_secret": secret, "payment_token": "tok_chargeDeclined"}
        )
        await person.approve(approved["approval"]["approval_id"])
        other_card = {
            "client_secret": secret,
            "payment_token": "ctoken_someone_elses_card_combined",
            "approval_id": approved["approval"]["approval_id"],
        }
        message = await fail(client, "confirm_checkout", other_card)
    assert "changed after it was approved" in message and "payment_token_digest" in message
    assert state.store.checkout(seed.open_checkout_id).status == "open"


async def test_a_checkout_s_client_secret_is_shown_only_where_a_tool_takes_it(
    make_server: Any, seed: SeedInfo, mode: str
) -> None:
    """The secret is a credential: a merchant desk (the default toolsets) sends the url and never sees it."""
    args = {"products": [seed.products["one_time_fixed"]], "customer_email": "new@example.com"}
    async with Client(make_server(toolsets=["default"]), mode=mode) as client:
        made = await client.call_tool("create_checkout", args)
        checkout_id = made.structured_content["id"]  # type: ignore[index]
        read = await client.call_tool("get_checkout", {"checkout_id": checkout_id, "detail": "full"})
        changed = await client.call_tool("update_checkout", {"checkout_id": checkout_id, "customer_name": "N"})
    for result in (made, read, changed):
        assert not result.is_error
        assert "client_secret" not in result.content[0].text  # type: ignore[union-attr]
    async with Client(make_server(toolsets=["default", "checkout_page"]), mode=mode) as client:
        shown = await call(client, "create_checkout", args)
    assert shown["client_secret"].startswith("polar_c_") and shown["client_secret_note"]


async def test_update_checkout_can_stop_its_page_taking_discount_codes(
    server: MCPServer[Any], seed: SeedInfo, state: EmulatorState
) -> None:
    """What confirm_checkout asks for when a discount without a code must stay: the page can no longer remove it."""
    async with Client(server) as client:
        await call(client, "update_checkout", {"checkout_id": seed.open_checkout_id, "allow_discount_codes": False})
    assert state.store.checkout(seed.open_checkout_id).allow_discount_codes is False
