"""finalize_order moves money: no charge without a person's approval of exactly this order."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import anyio
import mcp_types as types
import pytest
from mcp.client import Client
from mcp.server.mcpserver import MCPServer

from polar_orders_mcp.emulator.seed import SeedInfo
from polar_orders_mcp.emulator.state import EmulatorState
from polar_orders_mcp.server.app import ServerParts
from polar_orders_mcp.tools.orders import STRAY_DRAFT
from tests.approvals.console_client import Person
from tests.approvals.form_person import typed, typed_yes
from tests.tools.conftest import CONSOLE_URL, approved_call, call, error_text, fail

pytestmark = pytest.mark.anyio


class Human:
    """An elicitation callback: records what the human was shown, answers as told. `typing` True types what the
    facts show (a reader's approval); a str types that; a dict is the form's whole content."""

    def __init__(self, action: str = "accept", typing: Any = True, on_ask: Any = None) -> None:
        self.action, self.typing, self.on_ask = action, typing, on_ask
        self.shown: list[str] = []

    async def __call__(self, _ctx: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        self.shown.append(params.message)
        if self.on_ask:
            self.on_ask()
        if self.action != "accept":
            return types.ElicitResult(action=self.action)  # type: ignore[arg-type]
        if self.typing is True:
            return typed_yes(params)
        if isinstance(self.typing, str):
            return typed(params, self.typing)
        return types.ElicitResult(action="accept", content=self.typing)


def status(state: EmulatorState, order_id: str) -> str:
    return state.store.order(order_id).status


async def test_first_call_asks_a_person_and_charges_nothing(
    server: MCPServer[Any], seed: SeedInfo, state: EmulatorState, mode: str
) -> None:
    order_id = seed.draft_orders["good_card"]
    async with Client(server, mode=mode) as client:
        result = await call(client, "finalize_order", {"order_id": order_id})
    assert result["status"] == "approval_pending"
    preview = result["preview"]
    assert preview["order_id"] == order_id
    assert preview["amount"] == state.store.order(order_id).total_amount
    assert preview["customer_email"] == "good-card@example.com"
    assert "4242" in preview["payment_method"]
    approval = result["approval"]
    assert approval["approval_id"].startswith("apr_")
    assert approval["approve_at"] == f"{CONSOLE_URL}/{approval['approval_id']}"
    assert datetime.fromisoformat(approval["expires_at"]).utcoffset() is not None
    assert result["next_step"] == (
        "Nothing was done yet: a person decides at approve_at, signed in to the approval console (the link alone "
        "allows nothing), before expires_at. Tell the user; once decided, call finalize_order again with the same "
        "arguments and approval_id."
    )
    assert "confirmation_token" not in result
    assert status(state, order_id) == "draft"


def nulls_in(value: Any, path: str = "") -> list[str]:
    """Where a JSON value holds a null."""
    if isinstance(value, dict):
        return [p for key, sub in value.items() for p in nulls_in(sub, f"{path}.{key}")]
    if isinstance(value, list):
        return [p for n, sub in enumerate(value) for p in nulls_in(sub, f"{path}[{n}]")]
    return [path] if value is None else []


async def test_the_pending_answer_has_no_nulls_and_no_pre_tax_list_price_beside_the_total(
    server: MCPServer[Any], seed: SeedInfo
) -> None:
    order_id = seed.draft_orders["good_card"]
    async with Client(server) as client:
        result = await client.call_tool("finalize_order", {"order_id": order_id})
    answer = result.structured_content
    assert answer is not None and nulls_in(answer) == []
    assert {"decided", "order"}.isdisjoint(answer)
    assert {"list_price", "list_price_display", "price_override"}.isdisjoint(answer["preview"])
    assert (answer["preview"]["amount_display"], answer["preview"]["tax_display"]) == ("$15.00", "$2.50")
    assert answer == json.loads(error_text(result))  # the text the agent reads says the same


async def test_a_person_approving_in_the_console_lets_the_next_call_charge_once(
    server: MCPServer[Any], person: Person, seed: SeedInfo, state: EmulatorState, mode: str
) -> None:
    order_id = seed.draft_orders["good_card"]
    async with Client(server, mode=mode) as client:
        approval_id = (await call(client, "finalize_order", {"order_id": order_id}))["approval"]["approval_id"]
        assert (await person.approve(approval_id)).status_code == 303
        charged = await call(client, "finalize_order", {"order_id": order_id, "approval_id": approval_id})
        replay = await fail(client, "finalize_order", {"order_id": order_id, "approval_id": approval_id})
    assert charged["status"] == "charged"
    assert charged["order"]["status"] == "paid"
    assert status(state, order_id) == "paid"
    assert f"was not charged by this call: approval {approval_id} was already used at" in replay
    assert [r.path for r in state.faults.journal if r.method == "POST"] == [f"/v1/orders/{order_id}/finalize"]


async def test_an_approval_is_used_once(
    server: MCPServer[Any], person: Person, seed: SeedInfo, state: EmulatorState
) -> None:
    order_id = seed.draft_orders["declining_card"]
    async with Client(server) as client:
        first = await call(client, "finalize_order", {"order_id": order_id})
        approval_id = first["approval"]["approval_id"]
        await person.approve(approval_id)
        declined = await fail(client, "finalize_order", {"order_id": order_id, "approval_id": approval_id})
        again = await fail(client, "finalize_order", {"order_id": order_id, "approval_id": approval_id})
    assert "declined" in declined
    assert f"Order {order_id} was not charged by this call" in again and "already used" in again
    assert status(state, order_id) == "draft"


async def test_a_denial_charges_nothing_and_says_who_denied(
    server: MCPServer[Any], person: Person, seed: SeedInfo, state: EmulatorState
) -> None:
    order_id = seed.draft_orders["good_card"]
    async with Client(server) as client:
        approval_id = (await call(client, "finalize_order", {"order_id": order_id}))["approval"]["approval_id"]
        assert (await person.deny(approval_id)).status_code == 303
        message = await fail(client, "finalize_order", {"order_id": order_id, "approval_id": approval_id})
    assert f"Order {order_id} was not charged: approver denied it in the approval console at" in message
    assert status(state, order_id) == "draft"


async def test_a_call_before_the_decision_is_told_to_wait(
    server: MCPServer[Any], seed: SeedInfo, state: EmulatorState
) -> None:
    order_id = seed.draft_orders["good_card"]
    async with Client(server) as client:
        approval_id = (await call(client, "finalize_order", {"order_id": order_id}))["approval"]["approval_id"]
        again = await call(client, "finalize_order", {"order_id": order_id, "approval_id": approval_id})
    assert again["status"] == "approval_pending"
    assert again["approval"]["approval_id"] == approval_id
    assert status(state, order_id) == "draft"


async def test_an_expired_request_cannot_be_approved_or_used(
    make_parts: Any, seed: SeedInfo, state: EmulatorState
) -> None:
    parts: ServerParts = make_parts(approval_ttl=0.2)
    order_id = seed.draft_orders["good_card"]
    async with Client(parts.server) as client, Person(parts.console) as person:
        approval_id = (await call(client, "finalize_order", {"order_id": order_id}))["approval"]["approval_id"]
        await anyio.sleep(0.3)
        decided = await person.approve(approval_id)
        message = await fail(client, "finalize_order", {"order_id": order_id, "approval_id": approval_id})
    assert decided.status_code == 409 and "expired" in decided.text
    assert f"Order {order_id} was not charged: approval {approval_id} expired at" in message
    assert status(state, order_id) == "draft"


async def test_an_approval_for_another_order_is_refused(
    server: MCPServer[Any], person: Person, seed: SeedInfo, state: EmulatorState
) -> None:
    good = seed.draft_orders["good_card"]
    async with Client(server) as client:
        other = await call(
            client,
            "create_order",
            {
                "customer_id": seed.customers["good_card"],
                "product_id": seed.products["one_time_fixed"],
            },
        )
        approval_id = (await call(client, "finalize_order", {"order_id": good}))["approval"]["approval_id"]
        await person.approve(approval_id)
        message = await fail(client, "finalize_order", {"order_id": other["id"], "approval_id": approval_id})
    assert f"approval {approval_id} was requested for finalize_order on {good}, not for this call" in message
    assert status(state, other["id"]) == "draft"
    assert status(state, good) == "draft"


async def test_an_approval_from_another_store_is_unknown(
    make_parts: Any, seed: SeedInfo, state: EmulatorState, tmp_path: Any
) -> None:
    order_id = seed.draft_orders["good_card"]
    one: ServerParts = make_parts(state_dir=tmp_path / "one")
    async with Client(one.server) as client, Person(one.console) as person:
        approval_id = (await call(client, "finalize_order", {"order_id": order_id}))["approval"]["approval_id"]
        await person.approve(approval_id)
    two: ServerParts = make_parts(state_dir=tmp_path / "two")
    async with Client(two.server) as client:
        message = await fail(client, "finalize_order", {"order_id": order_id, "approval_id": approval_id})
    assert f"there is no approval request {approval_id!r} here" in message
    assert status(state, order_id) == "draft"


async def test_servers_sharing_a_store_share_approvals(
    make_parts: Any, seed: SeedInfo, state: EmulatorState, tmp_path: Any
) -> None:
    order_id = seed.draft_orders["good_card"]
    one: ServerParts = make_parts(state_dir=tmp_path / "shared")
    two: ServerParts = make_parts(state_dir=tmp_path / "shared")
    async with Client(one.server) as client, Person(two.console) as person:
        approval_id = (await call(client, "finalize_order", {"order_id": order_id}))["approval"]["approval_id"]
        await person.approve(approval_id)
    async with Client(two.server) as client:
        charged = await call(client, "finalize_order", {"order_id": order_id, "approval_id": approval_id})
    assert charged["status"] == "charged"
    assert status(state, order_id) == "paid"


async def test_an_order_changed_after_its_approval_is_refused(
    server: MCPServer[Any], person: Person, seed: SeedInfo, state: EmulatorState
) -> None:
    order_id = seed.draft_orders["good_card"]
    async with Client(server) as client:
        approval_id = (await call(client, "finalize_order", {"order_id": order_id}))["approval"]["approval_id"]
        await person.approve(approval_id)
        state.store.order(order_id).subtotal_amount += 10_000
        message = await fail(client, "finalize_order", {"order_id": order_id, "approval_id": approval_id})
    assert "changed after it was approved" in message and "amount: 1500 → 11500" in message
    assert status(state, order_id) == "draft"


async def test_elicitation_shows_the_preview_and_charges_on_approval(
    server: MCPServer[Any], seed: SeedInfo, state: EmulatorState, mode: str
) -> None:
    order_id = seed.draft_orders["good_card"]
    human = Human()
    async with Client(server, mode=mode, elicitation_callback=human) as client:
        result = await call(client, "finalize_order", {"order_id": order_id})
    assert result["status"] == "charged"
    assert status(state, order_id) == "paid"
    assert len(human.shown) == 1
    shown = human.shown[0]
    assert "Amount, tax included: $15.00" in shown
    assert "Customer email: good-card@example.com  (as the customer entered it)" in shown
    assert "visa •••• 4242" in shown
    assert order_id in shown.splitlines()[0]  # the summary names the order; the fact lines show no raw ids
    assert "None" not in shown and "customer_id" not in shown and "payment_method_id" not in shown


UNREADABLE = (
    "the client's answer to the confirmation request did not type the amount (the form's one field, 'amount'), so "
    "nobody approved it. Call again to ask once more."
)
MISTYPED = (
    "the amount typed in the confirmation request was not the one shown, so nobody approved it. Call again to ask "
    "once more; the person types it as shown to approve."
)


@pytest.mark.parametrize(
    ("action", "typing", "said"),
    [
        ("decline", True, "the person declined the confirmation request."),
        ("cancel", True, "the person dismissed the confirmation request."),
        ("accept", "0.01", MISTYPED),
        ("accept", "", MISTYPED),
        ("accept", "yes", MISTYPED),
        ("accept", {"approve": True}, UNREADABLE),  # a blind "accept" of a yes/no form
        ("accept", {"amount": 118.8}, UNREADABLE),
        ("accept", {"amount": "118.80", "approve": True}, UNREADABLE),
    ],
)
async def test_a_refused_unreadable_or_mistyped_elicitation_charges_nothing(
    server: MCPServer[Any], seed: SeedInfo, state: EmulatorState, mode: str, action: str, typing: Any, said: str
) -> None:
    order_id = seed.draft_orders["good_card"]
    async with Client(server, mode=mode, elicitation_callback=Human(action, typing)) as client:
        message = await fail(client, "finalize_order", {"order_id": order_id})
    assert message == f"Error executing tool finalize_order: Order {order_id} was not charged: {said} {STRAY_DRAFT}"
    assert status(state, order_id) == "draft"


async def test_an_order_changed_while_the_human_decides_is_never_charged_unseen(
    server: MCPServer[Any], seed: SeedInfo, state: EmulatorState, mode: str
) -> None:
    order_id = seed.draft_orders["good_card"]
    order = state.store.order(order_id)

    def change() -> None:
        order.subtotal_amount += 10_000

    human = Human(on_ask=change)
    async with Client(server, mode=mode, elicitation_callback=human) as client:
        message = await fail(client, "finalize_order", {"order_id": order_id})
    assert "changed after it was approved" in message
    assert len(human.shown) == 1
    assert status(state, order_id) == "draft"


async def test_a_declining_card_leaves_the_order_a_draft(
    make_server: Any, seed: SeedInfo, state: EmulatorState
) -> None:
    order_id = seed.draft_orders["declining_card"]
    async with Client(make_server(confirm="off")) as client:
        message = await fail(client, "finalize_order", {"order_id": order_id})
    assert f"Order {order_id} was not charged" in message
    assert "declined" in message and "still a draft" in message
    assert status(state, order_id) == "draft"


async def test_a_card_needing_authentication_says_so(make_server: Any, seed: SeedInfo, state: EmulatorState) -> None:
    order_id = seed.draft_orders["sca_card"]
    async with Client(make_server(confirm="off")) as client:
        message = await fail(client, "finalize_order", {"order_id": order_id})
    assert "authenticate" in message and "create_checkout" in message
    assert status(state, order_id) == "draft"


async def test_no_saved_payment_method_is_refused_before_asking(
    server: MCPServer[Any], seed: SeedInfo, state: EmulatorState
) -> None:
    order_id = seed.draft_orders["no_payment_method"]
    human = Human()
    async with Client(server, elicitation_callback=human) as client:
        message = await fail(client, "finalize_order", {"order_id": order_id})
    assert "no default saved payment method" in message
    assert human.shown == []
    assert status(state, order_id) == "draft"


async def test_a_paid_order_is_not_a_draft(server: MCPServer[Any], seed: SeedInfo) -> None:
    async with Client(server) as client:
        message = await fail(client, "finalize_order", {"order_id": seed.paid_order_id})
    assert "is paid, not a draft" in message


async def test_the_approved_call_reads_the_order_once_then_charges(
    server: MCPServer[Any], person: Person, seed: SeedInfo, state: EmulatorState
) -> None:
    """The first call reads the order, its organization (may it charge?), the customer's cards and the product
    (its list price); the approved call reads only the order (the card is pinned in the charge), then charges."""
    order_id = seed.draft_orders["good_card"]
    async with Client(server) as client:
        state.faults.journal.clear()
        approval_id = (await call(client, "finalize_order", {"order_id": order_id}))["approval"]["approval_id"]
        first = [(r.method, r.path) for r in state.faults.journal]
        await person.approve(approval_id)
        state.faults.journal.clear()
        await call(client, "finalize_order", {"order_id": order_id, "approval_id": approval_id})
        second = [(r.method, r.path) for r in state.faults.journal]
    customer = state.store.order(order_id).customer.id
    product = state.store.order(order_id).product.id
    assert first == [
        ("GET", f"/v1/orders/{order_id}"),
        ("GET", f"/v1/organizations/{seed.organization_id}"),
        ("GET", f"/v1/customers/{customer}/payment-methods"),
        ("GET", f"/v1/products/{product}"),
    ]
    assert second == [("GET", f"/v1/orders/{order_id}"), ("POST", f"/v1/orders/{order_id}/finalize")]


async def test_a_charge_approved_in_the_client_reads_polar_alike_in_both_eras(
    server: MCPServer[Any], seed: SeedInfo, state: EmulatorState, mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The person takes longer to answer than reads are remembered. The newer era answers in a second
    request: it reads the order again right before charging, as the older one does once the person
    answered, instead of building the whole preview (order, organization, cards, product) again."""
    from polar_orders_mcp.polar import recent

    order_id = seed.draft_orders["good_card"]
    customer = state.store.order(order_id).customer.id
    product = state.store.order(order_id).product.id
    human = Human(on_ask=lambda: monkeypatch.setattr(recent, "SECONDS", -1.0))
    async with Client(server, mode=mode, elicitation_callback=human) as client:
        state.faults.journal.clear()
        charged = await call(client, "finalize_order", {"order_id": order_id})
        sent = [(r.method, r.path) for r in state.faults.journal]
    assert charged["status"] == "charged"
    assert sent == [
        ("GET", f"/v1/orders/{order_id}"),
        ("GET", f"/v1/organizations/{seed.organization_id}"),
        ("GET", f"/v1/customers/{customer}/payment-methods"),
        ("GET", f"/v1/products/{product}"),
        ("GET", f"/v1/orders/{order_id}"),
        ("POST", f"/v1/orders/{order_id}/finalize"),
    ]


async def test_a_confirmed_charge_after_looking_at_the_customer_and_products_costs_three_requests(
    server: MCPServer[Any], person: Person, seed: SeedInfo, state: EmulatorState
) -> None:
    """The usual way to a charge reads the customer's cards (get_customer) and the products (list_products)
    first: the preview takes the card's label and the list price from those reads of a few minutes ago and
    reads only the order (and the organization, once every few minutes: here an earlier charge's preview read
    it); the approved call reads the order again, right before charging it."""
    order_id = seed.draft_orders["good_card"]
    customer = state.store.order(order_id).customer.id
    async with Client(server) as client:
        await call(client, "finalize_order", {"order_id": seed.draft_orders["declining_card"]})
        await call(client, "get_customer", {"customer_id": customer})
        await call(client, "list_products", {})
        state.faults.journal.clear()
        charged = await approved_call(client, person, "finalize_order", {"order_id": order_id})
        sent = [(r.method, r.path) for r in state.faults.journal]
    assert charged["status"] == "charged"
    assert charged["preview"]["payment_method"].startswith("visa •••• 4242")
    assert sent == [
        ("GET", f"/v1/orders/{order_id}"),
        ("GET", f"/v1/orders/{order_id}"),
        ("POST", f"/v1/orders/{order_id}/finalize"),
    ]


async def test_a_charge_of_a_draft_just_made_costs_three_requests(
    server: MCPServer[Any], person: Person, seed: SeedInfo, state: EmulatorState
) -> None:
    """The way to a charge through this server: list_products, create_order, finalize_order twice. The
    preview takes the order from create_order's answer and the list price from list_products, so it reads
    only the customer's cards (and the organization, once every few minutes: here an earlier charge's preview
    read it); the approved call reads the order right before charging it."""
    customer = seed.customers["good_card"]
    async with Client(server) as client:
        await call(client, "finalize_order", {"order_id": seed.draft_orders["declining_card"]})
        await call(client, "list_products", {})
        draft = await call(
            client, "create_order", {"customer_id": customer, "product_id": seed.products["one_time_fixed"]}
        )
        order_id = draft["id"]
        state.faults.journal.clear()
        charged = await approved_call(client, person, "finalize_order", {"order_id": order_id})
        sent = [(r.method, r.path) for r in state.faults.journal]
    assert charged["status"] == "charged"
    assert sent == [
        ("GET", f"/v1/customers/{customer}/payment-methods"),
        ("GET", f"/v1/orders/{order_id}"),
        ("POST", f"/v1/orders/{order_id}/finalize"),
    ]


async def _a_draft_that_changes_after_it_was_made(client: Client, seed: SeedInfo, state: EmulatorState) -> str:
    args = {"customer_id": seed.customers["good_card"], "product_id": seed.products["one_time_fixed"]}
    draft = await call(client, "create_order", args)
    order_id: str = draft["id"]
    state.store.order(order_id).subtotal_amount += 10_000  # after create_order's answer was remembered
    return order_id


async def test_a_preview_from_a_remembered_draft_is_read_again_before_the_charge(
    server: MCPServer[Any], seed: SeedInfo, state: EmulatorState, mode: str
) -> None:
    """The person is shown the draft as create_order answered; it changed since. In both protocol eras
    (the newer one asks in a second request, which previews again) the order is read before charging,
    and the difference stops the charge."""
    human = Human()
    async with Client(server, mode=mode, elicitation_callback=human) as client:
        order_id = await _a_draft_that_changes_after_it_was_made(client, seed, state)
        message = await fail(client, "finalize_order", {"order_id": order_id})
    assert "changed after it was approved" in message
    assert "Amount, tax included: $15.00" in human.shown[0]
    assert status(state, order_id) == "draft"
    assert not [r for r in state.faults.journal if r.path.endswith("/finalize")]


async def test_an_unattended_charge_of_a_remembered_draft_reads_it_first(
    make_server: Any, seed: SeedInfo, state: EmulatorState
) -> None:
    """With --confirm off nobody is asked, so the charge is described from a fresh read, not a remembered one."""
    async with Client(make_server(confirm="off")) as client:
        order_id = await _a_draft_that_changes_after_it_was_made(client, seed, state)
        charged = await call(client, "finalize_order", {"order_id": order_id})
    assert charged["status"] == "charged"
    assert charged["preview"]["amount"] == state.store.order(order_id).total_amount
    assert status(state, order_id) == "paid"


async def test_a_card_not_among_the_remembered_ones_is_looked_up_afresh(
    server: MCPServer[Any], seed: SeedInfo, state: EmulatorState
) -> None:
    """A card added since the customer was read is not refused on the strength of an old list."""
    order_id = seed.draft_orders["good_card"]
    order = state.store.order(order_id)
    async with Client(server) as client:
        await call(client, "get_customer", {"customer_id": order.customer.id})
        state.faults.journal.clear()
        message = await fail(client, "finalize_order", {"order_id": order_id, "payment_method_id": UNKNOWN_CARD})
        sent = [(r.method, r.path) for r in state.faults.journal]
    assert ("GET", f"/v1/customers/{order.customer.id}/payment-methods") in sent
    assert "is not one of this customer's saved methods" in message


UNKNOWN_CARD = "0f0f0f0f-0f0f-4f0f-8f0f-0f0f0f0f0f0f"


def test_what_was_read_is_remembered_for_five_minutes_only() -> None:
    from polar_orders_mcp.polar.recent import SECONDS, SIZE, Recent

    now = [1000.0]
    recent: Recent[str] = Recent(clock=lambda: now[0])
    recent.put("a", "first")
    now[0] += SECONDS
    assert recent.get("a") == "first"
    now[0] += 0.001
    assert recent.get("a") is None
    for n in range(SIZE + 1):
        recent.put(str(n), "x")
    assert recent.get("0") is None and recent.get(str(SIZE)) == "x"
