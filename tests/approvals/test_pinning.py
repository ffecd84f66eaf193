"""What was approved is exactly what happens: the act carries the approved facts, and the outcome is checked."""

from __future__ import annotations

from typing import Any

import anyio
import httpx2
import pytest
from mcp.client import Client

from polar_orders_mcp.emulator.models import PaymentMethod
from polar_orders_mcp.emulator.seed import SeedInfo
from polar_orders_mcp.emulator.state import EmulatorState
from polar_orders_mcp.server.app import Built, build_parts
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


def parts_with(emulator: Any, transport: httpx2.AsyncBaseTransport, tmp_path: Any, **settings: Any) -> Built:
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
    parts: Built, person: Person, emulator: Any, seed: SeedInfo, state: EmulatorState
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
    parts: Built = make_parts(allow_price_override=True)
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
    assert preview["list_price_display"] == "$12.50"
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


async def approve_then_act(parts: Built, tool: str, args: dict[str, Any]) -> Any:
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
