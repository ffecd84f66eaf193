"""finalize_order moves money: no charge without a valid confirmation for exactly this order."""

from __future__ import annotations

from typing import Any

import anyio
import mcp_types as types
import pytest
from mcp.client import Client
from mcp.server.mcpserver import MCPServer

from polar_orders_mcp.emulator.seed import SeedInfo
from polar_orders_mcp.emulator.state import EmulatorState
from tests.tools.conftest import call, fail

pytestmark = pytest.mark.anyio


class Human:
    """An elicitation callback: records what the human was shown, answers as told."""

    def __init__(self, action: str = "accept", approve: bool = True, on_ask: Any = None) -> None:
        self.action, self.approve, self.on_ask = action, approve, on_ask
        self.shown: list[str] = []

    async def __call__(self, _ctx: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        self.shown.append(params.message)
        if self.on_ask:
            self.on_ask()
        content = {"approve": self.approve} if self.action == "accept" else None
        return types.ElicitResult(action=self.action, content=content)  # type: ignore[arg-type]


def status(state: EmulatorState, order_id: str) -> str:
    return state.store.order(order_id).status


async def test_first_call_previews_and_charges_nothing(
    server: MCPServer[Any], seed: SeedInfo, state: EmulatorState, mode: str
) -> None:
    order_id = seed.draft_orders["good_card"]
    async with Client(server, mode=mode) as client:
        result = await call(client, "finalize_order", {"order_id": order_id})
    assert result["status"] == "confirmation_required"
    preview = result["preview"]
    assert preview["order_id"] == order_id
    assert preview["amount"] == state.store.order(order_id).total_amount
    assert preview["customer_email"] == "good-card@example.com"
    assert "4242" in preview["payment_method"]
    assert preview["product"]
    assert result["confirmation_token"]
    assert status(state, order_id) == "draft"


async def test_token_from_the_preview_charges_once(
    server: MCPServer[Any], seed: SeedInfo, state: EmulatorState, mode: str
) -> None:
    order_id = seed.draft_orders["good_card"]
    async with Client(server, mode=mode) as client:
        preview = await call(client, "finalize_order", {"order_id": order_id})
        token = preview["confirmation_token"]
        charged = await call(client, "finalize_order", {"order_id": order_id, "confirmation_token": token})
        assert charged["status"] == "charged"
        assert charged["order"]["status"] == "paid"
        assert status(state, order_id) == "paid"
        replay = await fail(client, "finalize_order", {"order_id": order_id, "confirmation_token": token})
    assert "not charged" in replay or "not a draft" in replay


async def test_a_reused_token_is_refused(server: MCPServer[Any], seed: SeedInfo, state: EmulatorState) -> None:
    order_id = seed.draft_orders["declining_card"]
    async with Client(server) as client:
        token = (await call(client, "finalize_order", {"order_id": order_id}))["confirmation_token"]
        await fail(client, "finalize_order", {"order_id": order_id, "confirmation_token": token})  # declined card
        message = await fail(client, "finalize_order", {"order_id": order_id, "confirmation_token": token})
    assert "already used" in message
    assert f"Order {order_id} was not charged" in message
    assert status(state, order_id) == "draft"


async def test_a_tampered_token_is_refused(server: MCPServer[Any], seed: SeedInfo, state: EmulatorState) -> None:
    order_id = seed.draft_orders["good_card"]
    async with Client(server) as client:
        token = (await call(client, "finalize_order", {"order_id": order_id}))["confirmation_token"]
        forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
        message = await fail(client, "finalize_order", {"order_id": order_id, "confirmation_token": forged})
    assert "not valid" in message
    assert status(state, order_id) == "draft"


async def test_a_token_for_another_order_is_refused(
    server: MCPServer[Any], seed: SeedInfo, state: EmulatorState, make_server: Any
) -> None:
    good = seed.draft_orders["good_card"]
    async with Client(server) as client:
        other_order = await call(client, "create_order", {
            "customer_id": seed.customers["good_card"], "product_id": seed.products["one_time_fixed"],
        })  # fmt: skip
        token = (await call(client, "finalize_order", {"order_id": good}))["confirmation_token"]
        message = await fail(client, "finalize_order", {"order_id": other_order["id"], "confirmation_token": token})
    assert "issued for another call" in message
    assert status(state, other_order["id"]) == "draft"
    assert status(state, good) == "draft"


async def test_a_token_from_another_server_is_refused(
    make_server: Any, seed: SeedInfo, state: EmulatorState
) -> None:
    order_id = seed.draft_orders["good_card"]
    async with Client(make_server()) as one:
        token = (await call(one, "finalize_order", {"order_id": order_id}))["confirmation_token"]
    async with Client(make_server()) as two:  # a different random secret
        message = await fail(two, "finalize_order", {"order_id": order_id, "confirmation_token": token})
    assert "not valid" in message
    assert status(state, order_id) == "draft"


async def test_replicas_with_a_shared_secret_accept_each_others_tokens(
    make_server: Any, seed: SeedInfo, state: EmulatorState
) -> None:
    order_id = seed.draft_orders["good_card"]
    async with Client(make_server(confirm_secret="a-shared-secret-of-some-length")) as one:
        token = (await call(one, "finalize_order", {"order_id": order_id}))["confirmation_token"]
    async with Client(make_server(confirm_secret="a-shared-secret-of-some-length")) as two:
        await call(two, "finalize_order", {"order_id": order_id, "confirmation_token": token})
    assert status(state, order_id) == "paid"


async def test_an_expired_token_is_refused(make_server: Any, seed: SeedInfo, state: EmulatorState) -> None:
    order_id = seed.draft_orders["good_card"]
    async with Client(make_server(confirm_ttl=0.05)) as client:
        token = (await call(client, "finalize_order", {"order_id": order_id}))["confirmation_token"]
        await anyio.sleep(0.1)
        message = await fail(client, "finalize_order", {"order_id": order_id, "confirmation_token": token})
    assert "expired" in message and "was not charged" in message
    assert status(state, order_id) == "draft"


async def test_an_order_changed_after_its_preview_is_refused(
    server: MCPServer[Any], seed: SeedInfo, state: EmulatorState
) -> None:
    order_id = seed.draft_orders["good_card"]
    async with Client(server) as client:
        token = (await call(client, "finalize_order", {"order_id": order_id}))["confirmation_token"]
        state.store.order(order_id).subtotal_amount += 10_000
        message = await fail(client, "finalize_order", {"order_id": order_id, "confirmation_token": token})
    assert "changed after the preview" in message
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
    amount = result["preview"]["amount_display"]
    assert amount in shown and "good-card@example.com" in shown and "4242" in shown


@pytest.mark.parametrize(("action", "approve", "said"), [
    ("decline", False, "declined"), ("cancel", False, "cancelled"), ("accept", False, "declined"),
])  # fmt: skip
async def test_a_refused_elicitation_charges_nothing(
    server: MCPServer[Any], seed: SeedInfo, state: EmulatorState, mode: str, action: str, approve: bool, said: str
) -> None:
    order_id = seed.draft_orders["good_card"]
    async with Client(server, mode=mode, elicitation_callback=Human(action, approve)) as client:
        message = await fail(client, "finalize_order", {"order_id": order_id})
    assert f"Order {order_id} was not charged" in message and said in message
    assert status(state, order_id) == "draft"


async def test_an_order_changed_while_the_human_decides_is_never_charged_unseen(
    server: MCPServer[Any], seed: SeedInfo, state: EmulatorState, mode: str
) -> None:
    order_id = seed.draft_orders["good_card"]
    order = state.store.order(order_id)

    def change_once() -> None:
        if len(human.shown) == 1:
            order.subtotal_amount += 10_000

    human = Human(on_ask=change_once)
    async with Client(server, mode=mode, elicitation_callback=human) as client:
        result = await client.call_tool("finalize_order", {"order_id": order_id})
    if mode == "legacy":
        # The human answered about the old amount: the re-read before charging refuses.
        assert result.is_error
        assert "changed after the preview" in result.content[0].text  # type: ignore[union-attr]
        assert status(state, order_id) == "draft"
    else:
        # The 2026 flow recomputes the question each round: the human is asked again, with the new amount.
        assert len(human.shown) == 2
        assert human.shown[0] != human.shown[1]
        assert not result.is_error
        assert status(state, order_id) == "paid"


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


async def test_confirm_elicit_refuses_a_client_that_cannot_ask(
    make_server: Any, seed: SeedInfo, state: EmulatorState
) -> None:
    order_id = seed.draft_orders["good_card"]
    async with Client(make_server(confirm="elicit")) as client:
        message = await fail(client, "finalize_order", {"order_id": order_id})
    assert "cannot show confirmation requests" in message
    assert status(state, order_id) == "draft"


async def test_confirm_token_uses_tokens_even_when_the_client_could_ask(
    make_server: Any, seed: SeedInfo, state: EmulatorState
) -> None:
    human = Human()
    async with Client(make_server(confirm="token"), elicitation_callback=human) as client:
        result = await call(client, "finalize_order", {"order_id": seed.draft_orders["good_card"]})
    assert result["status"] == "confirmation_required"
    assert human.shown == []


async def test_confirm_off_charges_at_once(make_server: Any, seed: SeedInfo, state: EmulatorState) -> None:
    order_id = seed.draft_orders["good_card"]
    async with Client(make_server(confirm="off")) as client:
        result = await call(client, "finalize_order", {"order_id": order_id})
    assert result["status"] == "charged"
    assert status(state, order_id) == "paid"
