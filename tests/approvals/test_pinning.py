"""What was approved is exactly what happens: the act carries the approved facts, and the outcome is checked."""

from __future__ import annotations

import json
from typing import Any

import anyio
import httpx2
import pytest
from mcp.client import Client

from polar_orders_mcp.emulator.models import PaymentMethod
from polar_orders_mcp.emulator.seed import SeedInfo
from polar_orders_mcp.emulator.state import EmulatorState
from polar_orders_mcp.server.app import ServerParts, build_parts
from polar_orders_mcp.settings import Settings
from tests.approvals.console_client import Person
from tests.tools.conftest import TEST_SETTINGS, call, fail

pytestmark = pytest.mark.anyio

BUYER = {
    "customer_email": "buyer@example.com",
    "customer_billing_address": {
        "country": "US",
        "state": "US-NY",
        "city": "New York",
        "line1": "1 Main St",
        "postal_code": "10001",
    },
}


class Window(httpx2.AsyncBaseTransport):
    """The emulator, and a change made to it at the last moment: after the server's last read, right
    before its request that moves money reaches Polar."""

    def __init__(self, app: Any, suffix: str, change: Any) -> None:
        self.inner = httpx2.ASGITransport(app=app)
        self.suffix, self.change = suffix, change
        self.methods: tuple[str, ...] = ("POST",)
        self.changed = 0

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        if request.method in self.methods and request.url.path.endswith(self.suffix) and not self.changed:
            self.changed += 1
            await self.change()
        return await self.inner.handle_async_request(request)


def parts_with(emulator: Any, transport: httpx2.AsyncBaseTransport, tmp_path: Any, **settings: Any) -> ServerParts:
    merged = {**TEST_SETTINGS, "state_dir": tmp_path / "state", **settings}
    return build_parts(Settings(emulator=True, **merged), transport=transport)


async def custom_price_checkout(client: Client, seed: SeedInfo, amount: int) -> dict[str, Any]:
    """A pay-what-you-want checkout at `amount`, filled in by its buyer and ready to confirm."""
    checkout = await call(client, "create_checkout", {"products": [seed.products["one_time_custom"]], "amount": amount})
    await call(client, "update_checkout_by_secret", {"client_secret": checkout["client_secret"], **BUYER})
    return checkout


async def change_through_the_client_secret(emulator: Any, secret: str, **changes: Any) -> None:
    async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=emulator), base_url="http://e") as http:
        response = await http.patch(
            f"/v1/checkouts/client/{secret}", json=changes, headers={"Polar-Version": "2026-10"}
        )
        assert response.status_code == 200, response.text


async def test_a_checkout_changed_through_its_client_secret_at_the_last_moment_charges_what_was_approved(
    emulator: Any, seed: SeedInfo, state: EmulatorState, tmp_path: Any, mode: str
) -> None:
    secrets: list[str] = []
    transport = Window(
        emulator, "/confirm", lambda: change_through_the_client_secret(emulator, secrets[0], amount=6_000_000)
    )
    parts = parts_with(emulator, transport, tmp_path)
    async with Client(parts.server, mode=mode) as client, Person(parts.console) as person:
        checkout = await custom_price_checkout(client, seed, 1200)
        secrets.append(checkout["client_secret"])
        args = {"client_secret": checkout["client_secret"], "payment_token": "tok_visa"}
        first = await call(client, "confirm_checkout", args)
        assert first["preview"]["amount_display"] == "$12.00"
        await person.approve(first["approval"]["approval_id"])
        confirmed = await call(client, "confirm_checkout", {**args, "approval_id": first["approval"]["approval_id"]})
    assert transport.changed == 1
    assert confirmed["status"] == "confirmed"
    paid = state.store.checkout(checkout["id"])
    assert paid.amount == 1200  # not $60,000.00: the confirm request carried the approved amount


async def test_the_slow_reread_race_of_the_finding_charges_only_what_was_approved(
    parts: ServerParts, person: Person, emulator: Any, seed: SeedInfo, state: EmulatorState
) -> None:
    """The finding as reported: a slow answer to the re-read widens the window, and the buyer's page
    raises the amount inside it."""
    async with Client(parts.server) as client:
        checkout = await custom_price_checkout(client, seed, 1200)
        secret = checkout["client_secret"]
        args = {"client_secret": secret, "payment_token": "tok_visa"}
        first = await call(client, "confirm_checkout", args)
        await person.approve(first["approval"]["approval_id"])
        state.faults.add("slow_body", f"/v1/checkouts/client/{secret}", method="GET", seconds=0.5)
        async with anyio.create_task_group() as group:

            async def buyer_raises_the_amount() -> None:
                await anyio.sleep(0.2)
                await change_through_the_client_secret(emulator, secret, amount=6_000_000)

            group.start_soon(buyer_raises_the_amount)
            result = await client.call_tool(
                "confirm_checkout", {**args, "approval_id": first["approval"]["approval_id"]}
            )
    total = state.store.checkout(checkout["id"]).amount
    assert not result.is_error, result.content
    assert total == 1200


async def test_a_checkout_switched_to_another_product_at_the_last_moment_confirms_the_approved_one(
    emulator: Any, seed: SeedInfo, state: EmulatorState, tmp_path: Any
) -> None:
    secrets: list[str] = []
    transport = Window(
        emulator,
        "/confirm",
        lambda: change_through_the_client_secret(emulator, secrets[0], product_id=seed.products["one_time_custom"]),
    )
    parts = parts_with(emulator, transport, tmp_path)
    async with Client(parts.server) as client, Person(parts.console) as person:
        checkout = await call(
            client,
            "create_checkout",
            {
                "products": [seed.products["one_time_fixed"], seed.products["one_time_custom"]],
            },
        )
        await call(client, "update_checkout_by_secret", {"client_secret": checkout["client_secret"], **BUYER})
        secrets.append(checkout["client_secret"])
        args = {"client_secret": checkout["client_secret"], "payment_token": "tok_visa"}
        first = await call(client, "confirm_checkout", args)
        await person.approve(first["approval"]["approval_id"])
        confirmed = await call(client, "confirm_checkout", {**args, "approval_id": first["approval"]["approval_id"]})
    assert transport.changed == 1
    assert confirmed["checkout"]["products"][0]["id"] == seed.products["one_time_fixed"]
    assert state.store.checkout(checkout["id"]).product.id == seed.products["one_time_fixed"]
    assert confirmed["checkout"]["total_amount"] == first["preview"]["amount"]


async def test_a_charge_uses_the_approved_card_when_the_default_changes_at_the_last_moment(
    emulator: Any, seed: SeedInfo, state: EmulatorState, tmp_path: Any
) -> None:
    order_id = seed.draft_orders["good_card"]
    customer = state.store.order(order_id).customer

    async def switch_default_to_a_card_that_declines() -> None:
        card = PaymentMethod(
            id="7b0c5e8e-0000-4000-8000-000000000001",
            customer_id=customer.id,
            created_at=state.now(),
            brand="mastercard",
            last4="0341",
            exp_month=1,
            exp_year=2031,
            outcome="declines",
        )
        state.store.payment_methods[card.id] = card
        customer.default_payment_method_id = card.id

    transport = Window(emulator, "/finalize", switch_default_to_a_card_that_declines)
    parts = parts_with(emulator, transport, tmp_path)
    async with Client(parts.server) as client, Person(parts.console) as person:
        first = await call(client, "finalize_order", {"order_id": order_id})
        assert "4242" in first["preview"]["payment_method"]
        await person.approve(first["approval"]["approval_id"])
        charged = await call(
            client, "finalize_order", {"order_id": order_id, "approval_id": first["approval"]["approval_id"]}
        )
    assert transport.changed == 1
    assert charged["status"] == "charged"  # with the approved visa •••• 4242, not the new default that declines
    assert state.store.order(order_id).status == "paid"


async def test_what_the_act_cannot_carry_is_checked_afterwards_and_a_difference_is_reported(
    emulator: Any, seed: SeedInfo, state: EmulatorState, tmp_path: Any, mode: str
) -> None:
    order_id = seed.draft_orders["good_card"]

    async def polar_changes_the_amount() -> None:  # nothing the request could say would stop this
        state.store.order(order_id).subtotal_amount += 5_998_500

    transport = Window(emulator, "/finalize", polar_changes_the_amount)
    parts = parts_with(emulator, transport, tmp_path, audit_log=str(tmp_path / "audit.jsonl"))
    async with Client(parts.server, mode=mode) as client, Person(parts.console) as person:
        first = await call(client, "finalize_order", {"order_id": order_id})
        await person.approve(first["approval"]["approval_id"])
        message = await fail(
            client, "finalize_order", {"order_id": order_id, "approval_id": first["approval"]["approval_id"]}
        )
    assert message == (
        f"Error executing tool finalize_order: finalize_order went through on {order_id}, but NOT as approved: "
        "approved $15.00, Polar charged $60,000.00. Tell a person now; do not retry."
    )
    audit = (tmp_path / "audit.jsonl").read_text().splitlines()[-1]
    assert '"outcome":"mismatch"' in audit and "approved $15.00, Polar charged $60,000.00" in audit
    store = await parts.store()
    approval = await store.get_approval(first["approval"]["approval_id"])
    assert approval is not None and approval.outcome == "mismatch"


async def test_a_price_override_is_refused_unless_the_server_allows_it(
    make_parts: Any, seed: SeedInfo, state: EmulatorState
) -> None:
    args = {
        "customer_id": seed.customers["good_card"],
        "product_id": seed.products["one_time_fixed"],
        "amount": 99_999_999,
    }
    before = len(state.store.orders)
    async with Client(make_parts().server) as client:
        message = await fail(client, "create_order", args)
    assert message == (
        "Error executing tool create_order: No draft was created: amount overrides the product's fixed price, and "
        "this server does not allow price overrides (the operator can turn them on with --allow-price-override). "
        "Omit amount to charge the product's own price."
    )
    assert len(state.store.orders) == before


async def test_an_allowed_price_override_is_shown_plainly_to_the_person(
    make_parts: Any, seed: SeedInfo, state: EmulatorState
) -> None:
    parts: ServerParts = make_parts(allow_price_override=True)
    async with Client(parts.server) as client, Person(parts.console) as person:
        draft = await call(
            client,
            "create_order",
            {
                "customer_id": seed.customers["good_card"],
                "product_id": seed.products["one_time_fixed"],
                "amount": 99_999_999,
            },
        )
        first = await call(client, "finalize_order", {"order_id": draft["id"]})
        page = await person.http.get(first["approval"]["approve_at"].removeprefix("http://127.0.0.1:8765"))
        if page.status_code == 303:
            await person.sign_in()
            page = await person.http.get(first["approval"]["approve_at"].removeprefix("http://127.0.0.1:8765"))
    preview = first["preview"]
    assert (preview["list_price"], preview["list_price_display"]) == (1250, "$12.50")
    assert preview["price_override"] == (
        "this order's price $999,999.99 (before tax) replaces the product's $12.50: +$999,987.49"
    )
    assert "Price override" in page.text and "+$999,987.49" in page.text and "$12.50" in page.text


async def emulator_call(emulator: Any, method: str, path: str, body: Any = None) -> Any:
    """A change made at Polar by someone else (the dashboard, another integration), through its API."""
    from polar_orders_mcp.emulator.seed import ORG_TOKEN

    async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=emulator), base_url="http://e") as http:
        response = await http.request(
            method, path, json=body, headers={"Polar-Version": "2026-10", "Authorization": f"Bearer {ORG_TOKEN}"}
        )
        assert response.status_code < 300, response.text
        return response.json() if response.content else None


async def approve_then_act(parts: ServerParts, tool: str, args: dict[str, Any]) -> Any:
    async with Client(parts.server) as client, Person(parts.console) as person:
        first = await call(client, tool, args)
        await person.approve(first["approval"]["approval_id"])
        return await client.call_tool(tool, {**args, "approval_id": first["approval"]["approval_id"]})


async def test_a_refund_made_elsewhere_at_the_last_moment_leaves_exactly_the_approved_refund(
    emulator: Any, seed: SeedInfo, state: EmulatorState, tmp_path: Any
) -> None:
    order_id = seed.paid_order_id
    transport = Window(
        emulator,
        "/v1/refunds/",
        lambda: emulator_call(
            emulator, "POST", "/v1/refunds/", {"order_id": order_id, "reason": "duplicate", "amount": 300}
        ),
    )
    result = await approve_then_act(
        parts_with(emulator, transport, tmp_path), "create_refund", {"order_id": order_id, "amount": 500}
    )
    refunds = sorted(r.amount for r in state.store.refunds if r.order.id == order_id)
    assert transport.changed == 1 and not result.is_error, result.content
    assert refunds == [300, 500]  # the other one, and exactly the approved one


async def test_a_refund_that_no_longer_fits_at_the_last_moment_refunds_nothing(
    emulator: Any, seed: SeedInfo, state: EmulatorState, tmp_path: Any
) -> None:
    order_id = seed.paid_order_id
    net = state.store.order(order_id).net_amount
    transport = Window(
        emulator,
        "/v1/refunds/",
        lambda: emulator_call(
            emulator, "POST", "/v1/refunds/", {"order_id": order_id, "reason": "duplicate", "amount": net - 100}
        ),
    )
    result = await approve_then_act(
        parts_with(emulator, transport, tmp_path), "create_refund", {"order_id": order_id, "amount": 500}
    )
    text = result.content[0].text  # type: ignore[union-attr]
    assert result.is_error and f"Order {order_id} was not refunded" in text
    assert sorted(r.amount for r in state.store.refunds if r.order.id == order_id) == [net - 100]


async def test_a_subscription_canceled_elsewhere_at_the_last_moment_is_not_revoked_twice(
    emulator: Any, seed: SeedInfo, state: EmulatorState, tmp_path: Any
) -> None:
    subscription_id = seed.subscriptions["active"]
    transport = Window(
        emulator,
        f"/v1/subscriptions/{subscription_id}",
        lambda: emulator_call(emulator, "DELETE", f"/v1/subscriptions/{subscription_id}"),
    )
    transport.methods = ("PATCH",)
    result = await approve_then_act(
        parts_with(emulator, transport, tmp_path), "revoke_subscription", {"subscription_id": subscription_id}
    )
    text = result.content[0].text  # type: ignore[union-attr]
    assert result.is_error and f"Subscription {subscription_id} was not revoked" in text
    assert "AlreadyCanceledSubscription" in text


async def test_a_dispute_resolved_at_the_last_moment_is_not_conceded(
    emulator: Any, seed: SeedInfo, state: EmulatorState, tmp_path: Any
) -> None:
    dispute_id = seed.disputes["needs_response"]

    async def the_bank_decides() -> None:
        state.store.disputes[dispute_id].status = "won"

    transport = Window(emulator, "/accept", the_bank_decides)
    result = await approve_then_act(
        parts_with(emulator, transport, tmp_path), "accept_dispute", {"dispute_id": dispute_id}
    )
    text = result.content[0].text  # type: ignore[union-attr]
    assert result.is_error and f"Dispute {dispute_id} was not accepted" in text
    assert state.store.disputes[dispute_id].status == "won"


GERMAN_ADDRESS = {"country": "DE", "city": "Berlin", "line1": "Unter den Linden 1", "postal_code": "10117"}


async def confirm_with_a_last_moment_change(
    emulator: Any, seed: SeedInfo, tmp_path: Any, mode: str, **change: Any
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """A $12.00 pay-what-you-want checkout filled in by a US buyer and approved; right before the confirm
    request reaches Polar, the payment page changes `change`. Returns the checkout, the first answer, the
    confirmed one."""
    secrets: list[str] = []
    transport = Window(emulator, "/confirm", lambda: change_through_the_client_secret(emulator, secrets[0], **change))
    parts = parts_with(emulator, transport, tmp_path)
    async with Client(parts.server, mode=mode) as client, Person(parts.console) as person:
        checkout = await custom_price_checkout(client, seed, 1200)
        secrets.append(checkout["client_secret"])
        args = {"client_secret": checkout["client_secret"], "payment_token": "tok_visa"}
        first = await call(client, "confirm_checkout", args)
        await person.approve(first["approval"]["approval_id"])
        confirmed = await call(client, "confirm_checkout", {**args, "approval_id": first["approval"]["approval_id"]})
    assert transport.changed == 1
    return checkout, first, confirmed


async def test_a_billing_country_changed_at_the_last_moment_is_not_what_sets_the_tax(
    emulator: Any, seed: SeedInfo, state: EmulatorState, tmp_path: Any, mode: str
) -> None:
    """The finding: "approved $10.00, Polar charged $12.00" when the country moved to one with tax."""
    checkout, first, confirmed = await confirm_with_a_last_moment_change(
        emulator, seed, tmp_path, mode, customer_billing_address=GERMAN_ADDRESS
    )
    paid = state.store.checkout(checkout["id"])
    assert first["preview"]["amount_display"] == "$12.00"
    assert confirmed["checkout"]["total_amount"] == 1200  # not $14.40 with German VAT
    address = paid.customer_billing_address or {}
    assert {k: v for k, v in address.items() if v is not None} == BUYER["customer_billing_address"]
    assert state.store.order(paid.order_id).tax_amount == 0  # type: ignore[arg-type]


async def test_a_tax_id_added_at_the_last_moment_is_cleared_by_the_confirmation(
    emulator: Any, seed: SeedInfo, state: EmulatorState, tmp_path: Any
) -> None:
    checkout, first, _ = await confirm_with_a_last_moment_change(
        emulator,
        seed,
        tmp_path,
        "auto",
        is_business_customer=True,
        customer_billing_name="ACME Inc",
        customer_tax_id="DE123456789",
    )
    assert "tax_id" not in first["preview"] and first["preview"]["business"] is False
    assert state.store.checkout(checkout["id"]).customer_tax_id is None


async def test_the_slow_reread_race_with_a_new_billing_country_charges_only_what_was_approved(
    parts: ServerParts, person: Person, emulator: Any, seed: SeedInfo, state: EmulatorState
) -> None:
    """A slow answer to the reread before the confirm widens the window; the buyer's page moves the billing
    country to one with tax inside it. Deterministic: the change lands while the reread's body is trickling."""
    async with Client(parts.server) as client:
        checkout = await custom_price_checkout(client, seed, 1000)
        secret = checkout["client_secret"]
        args = {"client_secret": secret, "payment_token": "tok_visa"}
        first = await call(client, "confirm_checkout", args)
        await person.approve(first["approval"]["approval_id"])
        state.faults.add("slow_body", f"/v1/checkouts/client/{secret}", method="GET", seconds=0.4)
        async with anyio.create_task_group() as group:

            async def buyer_moves_to_germany() -> None:
                await anyio.sleep(0.2)
                await change_through_the_client_secret(emulator, secret, customer_billing_address=GERMAN_ADDRESS)

            group.start_soon(buyer_moves_to_germany)
            result = await client.call_tool(
                "confirm_checkout", {**args, "approval_id": first["approval"]["approval_id"]}
            )
    assert not result.is_error, result.content
    paid = state.store.checkout(checkout["id"])
    country = (paid.customer_billing_address or {}).get("country")
    assert (paid.status, paid.amount, country) == ("confirmed", 1000, "US")
    assert state.store.order(paid.order_id).total_amount == 1000  # type: ignore[arg-type]


async def test_a_checkout_that_charges_without_a_billing_address_is_refused_before_anyone_is_asked(
    parts: ServerParts, seed: SeedInfo, state: EmulatorState
) -> None:
    async with Client(parts.server) as client:
        checkout = await call(
            client, "create_checkout", {"products": [seed.products["one_time_custom"]], "amount": 1200}
        )
        await call(
            client,
            "update_checkout_by_secret",
            {"client_secret": checkout["client_secret"], "customer_email": "buyer@example.com"},
        )
        message = await fail(
            client, "confirm_checkout", {"client_secret": checkout["client_secret"], "payment_token": "tok_visa"}
        )
    assert message == (
        f"Error executing tool confirm_checkout: Checkout {checkout['id']} was not confirmed and nothing was "
        "charged: it has no billing address yet, and the address sets the tax in what is charged. Fill it in first "
        "(update_checkout_by_secret with customer_billing_address), then call confirm_checkout again."
    )
    assert await (await parts.store()).list_approvals(states=["pending"]) == []
    assert state.store.checkout(checkout["id"]).status == "open"


async def test_the_person_reads_the_billing_address_and_the_tax_it_sets(parts: ServerParts, seed: SeedInfo) -> None:
    async with Client(parts.server) as client:
        checkout = await call(
            client, "create_checkout", {"products": [seed.products["one_time_custom"]], "amount": 1000}
        )
        await call(
            client,
            "update_checkout_by_secret",
            {
                "client_secret": checkout["client_secret"],
                "customer_email": "kunde@example.com",
                "customer_billing_address": GERMAN_ADDRESS,
            },
        )
        first = await call(
            client, "confirm_checkout", {"client_secret": checkout["client_secret"], "payment_token": "tok_visa"}
        )
    store = await parts.store()
    approval = await store.get_approval(first["approval"]["approval_id"])
    assert approval is not None
    shown = {label: (value, kind) for label, value, kind in approval.display}
    assert shown["Amount, tax included"] == ("$12.00", "amount")
    assert shown["Tax in it"] == ("$2.00", "text")
    assert shown["Billing address (sets the tax)"] == ("Unter den Linden 1, 10117, Berlin, DE", "customer")
    assert first["preview"]["billing_address"] == GERMAN_ADDRESS


async def test_the_limits_count_what_polar_reports_it_charged_not_what_was_approved(
    emulator: Any, seed: SeedInfo, state: EmulatorState, tmp_path: Any
) -> None:
    """A charge above its approval is a mismatch, and counts in full: the day's total then refuses the next
    charge that the approved amount alone would have let through."""
    order_id = seed.draft_orders["good_card"]

    async def polar_charges_more() -> None:
        state.store.order(order_id).subtotal_amount += 500  # $15.00 approved, $20.00 charged

    transport = Window(emulator, "/finalize", polar_charges_more)
    parts = parts_with(emulator, transport, tmp_path, max_daily="usd=3000")
    async with Client(parts.server) as client, Person(parts.console) as person:
        first = await call(client, "finalize_order", {"order_id": order_id})
        await person.approve(first["approval"]["approval_id"])
        mismatch = await fail(
            client, "finalize_order", {"order_id": order_id, "approval_id": first["approval"]["approval_id"]}
        )
        store = await parts.store()
        spent = await store.spent("usd")
        another = seed.draft_orders["declining_card"]  # $12.50: fits beside $15.00, not beside $20.00
        refused = await fail(client, "finalize_order", {"order_id": another})
    assert "NOT as approved: approved $15.00, Polar charged $20.00" in mismatch
    assert spent == 2000
    assert "would take the money moved in USD in the last 24 hours to $32.50" in refused


class Recorder(httpx2.AsyncBaseTransport):
    """The emulator, recording the body of each request whose path ends with `suffix`, and optionally
    rewriting what Polar answers to a GET (for what the emulator cannot make: a checkout's discount)."""

    def __init__(self, app: Any, suffix: str, rewrite: Any = None) -> None:
        self.inner = httpx2.ASGITransport(app=app)
        self.suffix, self.rewrite = suffix, rewrite
        self.bodies: list[dict[str, Any]] = []

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        if request.url.path.endswith(self.suffix):
            self.bodies.append(json.loads(await request.aread()))
        response = await self.inner.handle_async_request(request)
        if self.rewrite is None or request.method != "GET" or "/checkouts/client/" not in request.url.path:
            return response
        body = self.rewrite(json.loads(await response.aread()))
        return httpx2.Response(response.status_code, headers={"content-type": "application/json"}, json=body)


async def test_the_confirmation_carries_every_fact_that_sets_the_amount(
    emulator: Any, seed: SeedInfo, tmp_path: Any
) -> None:
    transport = Recorder(emulator, "/confirm")
    parts = parts_with(emulator, transport, tmp_path)
    async with Client(parts.server) as client, Person(parts.console) as person:
        checkout = await custom_price_checkout(client, seed, 1200)
        args = {"client_secret": checkout["client_secret"], "payment_token": "tok_visa"}
        first = await call(client, "confirm_checkout", args)
        await person.approve(first["approval"]["approval_id"])
        await call(client, "confirm_checkout", {**args, "approval_id": first["approval"]["approval_id"]})
    (sent,) = transport.bodies
    preview = first["preview"]
    assert sent == {
        "confirmation_token_id": "tok_visa",
        "product_id": preview["product_id"],
        "product_price_id": preview["product_price_id"],
        "amount": 1200,
        "discount_code": None,  # sent as null: a discount added since is removed, not charged around
        "customer_tax_id": None,  # likewise a tax id added since
        "customer_billing_address": BUYER["customer_billing_address"],
    }


def with_discount(code: str | None, allow_codes: bool) -> Any:
    def rewrite(body: dict[str, Any]) -> dict[str, Any]:
        discount = {
            "id": "3e1c2d6a-0000-4000-8000-000000000001",
            "name": "Launch",
            "code": code,
            "duration": "once",
            "type": "fixed",
            "amount": 200,
            "currency": "usd",
            "amounts": {"usd": 200},
        }
        return {**body, "discount": discount, "discount_id": discount["id"], "allow_discount_codes": allow_codes}

    return rewrite


async def test_a_discount_without_a_code_on_a_page_that_takes_codes_is_refused_before_anyone_is_asked(
    emulator: Any, seed: SeedInfo, tmp_path: Any
) -> None:
    """The confirmation can only name a discount by its code; without one, the payment page could remove it
    between the approval and the charge (Polar removes a discount on `discount_code: null`)."""
    parts = parts_with(emulator, Recorder(emulator, "/confirm", with_discount(None, allow_codes=True)), tmp_path)
    async with Client(parts.server) as client:
        checkout = await custom_price_checkout(client, seed, 1200)
        args = {"client_secret": checkout["client_secret"], "payment_token": "tok_visa"}
        message = await fail(client, "confirm_checkout", args)
    assert message == (
        f"Error executing tool confirm_checkout: Checkout {checkout['id']} was not confirmed and nothing was "
        "charged: its discount was applied without a code, so the confirmation cannot name it, and the payment "
        "page (which takes discount codes) could remove it before the charge. Turn discount codes off for this "
        "checkout (update_checkout with allow_discount_codes false), then call again."
    )
    assert await (await parts.store()).list_approvals(states=["pending"]) == []


@pytest.mark.parametrize(("code", "allow_codes"), [(None, False), ("LAUNCH", True)])
async def test_a_discount_the_page_cannot_remove_or_that_has_a_code_is_pinned(
    emulator: Any, seed: SeedInfo, tmp_path: Any, code: str | None, allow_codes: bool
) -> None:
    parts = parts_with(emulator, Recorder(emulator, "/confirm", with_discount(code, allow_codes)), tmp_path)
    async with Client(parts.server) as client:
        checkout = await custom_price_checkout(client, seed, 1200)
        args = {"client_secret": checkout["client_secret"], "payment_token": "tok_visa"}
        first = await call(client, "confirm_checkout", args)
    assert first["status"] == "approval_pending"
    assert first["preview"].get("discount_code") == code


async def test_the_seats_of_a_seat_based_price_are_sent_back_pinned(
    emulator: Any, seed: SeedInfo, tmp_path: Any
) -> None:
    """Polar resets the seats to the price's minimum when a confirmation names the product without them."""
    transport = Recorder(emulator, "/confirm", lambda body: {**body, "seats": 3})
    parts = parts_with(emulator, transport, tmp_path)
    async with Client(parts.server) as client, Person(parts.console) as person:
        checkout = await custom_price_checkout(client, seed, 1200)
        args = {"client_secret": checkout["client_secret"], "payment_token": "tok_visa"}
        first = await call(client, "confirm_checkout", args)
        await person.approve(first["approval"]["approval_id"])
        await call(client, "confirm_checkout", {**args, "approval_id": first["approval"]["approval_id"]})
    assert first["preview"]["seats"] == 3
    assert transport.bodies[0]["seats"] == 3


async def test_a_business_purchase_turned_off_at_the_last_moment_keeps_its_tax_id(
    emulator: Any, seed: SeedInfo, state: EmulatorState, tmp_path: Any
) -> None:
    """Polar drops the tax id (and with it a reverse charge) of a purchase no longer marked as a business one: the
    confirmation marks it again and names the approved tax id."""
    secrets: list[str] = []
    transport = Window(
        emulator,
        "/confirm",
        lambda: change_through_the_client_secret(emulator, secrets[0], is_business_customer=False),
    )
    parts = parts_with(emulator, transport, tmp_path)
    business = {
        "customer_email": "buyer@acme.example",
        "customer_billing_address": GERMAN_ADDRESS,
        "is_business_customer": True,
        "customer_billing_name": "ACME GmbH",
        "customer_tax_id": "DE123456789",
    }
    async with Client(parts.server) as client, Person(parts.console) as person:
        checkout = await call(
            client, "create_checkout", {"products": [seed.products["one_time_custom"]], "amount": 1200}
        )
        secrets.append(checkout["client_secret"])
        await change_through_the_client_secret(emulator, checkout["client_secret"], **business)  # as its page would
        args = {"client_secret": checkout["client_secret"], "payment_token": "tok_visa"}
        first = await call(client, "confirm_checkout", args)
        await person.approve(first["approval"]["approval_id"])
        await call(client, "confirm_checkout", {**args, "approval_id": first["approval"]["approval_id"]})
    paid = state.store.checkout(checkout["id"])
    assert transport.changed == 1 and first["preview"]["business_display"] == "yes"
    assert (paid.is_business_customer, paid.customer_tax_id) == (True, "DE123456789")
