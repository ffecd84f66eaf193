"""Maker and checker by person: whoever a client acts for asked, and someone else approves; both are recorded."""

from __future__ import annotations

from typing import Any

import pytest
from mcp.client import Client

from polar_orders_mcp.approvals.policy import Caller
from polar_orders_mcp.emulator.seed import SeedInfo
from polar_orders_mcp.emulator.state import EmulatorState
from polar_orders_mcp.server.app import ServerParts
from polar_orders_mcp.store import signed
from polar_orders_mcp.store.records import NewApproval, OwnRequest
from tests.approvals.console_client import Person
from tests.tools.conftest import call, fail

pytestmark = pytest.mark.anyio

ADA_SECRET = "ada-secret-for-the-tests"
BOB_SECRET = "bob-secret-for-the-tests"
PEOPLE = {"approvers": f"ada:{ADA_SECRET},bob:{BOB_SECRET}", "roles": "ada=use+approve,bob=approve"}


def acting_for(
    parts: ServerParts, person: str | None, client: str = "oauth:desk", session: str | None = None
) -> ServerParts:
    """The server as an OAuth client acting for `person` reaches it (server/identity.py reads it from the token)."""
    parts.guard.identify = lambda _ctx: Caller(client, session, person)
    return parts


async def test_the_person_who_asked_cannot_approve_and_another_approver_can(
    make_parts: Any, seed: SeedInfo, state: EmulatorState
) -> None:
    order_id = seed.draft_orders["good_card"]
    parts = acting_for(make_parts(**PEOPLE), "ada")
    async with (
        Client(parts.server) as client,
        Person(parts.console, secret=ADA_SECRET) as ada,
        Person(parts.console, secret=BOB_SECRET) as bob,
    ):
        asked = await call(client, "finalize_order", {"order_id": order_id})
        approval_id = asked["approval"]["approval_id"]
        await ada.sign_in()
        refused = await ada.decide(approval_id, "approve")
        assert state.store.order(order_id).status == "draft"
        still = await call(client, "finalize_order", {"order_id": order_id, "approval_id": approval_id})
        await bob.approve(approval_id)
        done = await call(client, "finalize_order", {"order_id": order_id, "approval_id": approval_id})
    assert asked["status"] == "approval_pending"  # the console: not the client's form, which would be ada's own
    assert refused.status_code == 403 and "You asked for this yourself" in refused.text
    assert still["status"] == "approval_pending"
    assert done["status"] == "charged"
    store = await parts.store()
    approval = await store.get_approval(approval_id)
    assert approval is not None and (approval.asked_by, approval.decided_by) == ("ada", "bob")
    assert signed.decision_claims(approval)["asked_by"] == "ada"


async def test_the_asker_may_deny_their_own_request(make_parts: Any, seed: SeedInfo, state: EmulatorState) -> None:
    order_id = seed.draft_orders["good_card"]
    parts = acting_for(make_parts(**PEOPLE), "ada")
    async with Client(parts.server) as client, Person(parts.console, secret=ADA_SECRET) as ada:
        approval_id = (await call(client, "finalize_order", {"order_id": order_id}))["approval"]["approval_id"]
        await ada.sign_in()
        denied = await ada.decide(approval_id, "deny")
    assert denied.status_code == 303
    approval = await (await parts.store()).get_approval(approval_id)
    assert approval is not None and approval.state == "denied"


async def test_another_person_on_the_same_client_cannot_use_the_approval(
    make_parts: Any, seed: SeedInfo, state: EmulatorState, tmp_path: Any
) -> None:
    order_id = seed.draft_orders["good_card"]
    ada = acting_for(make_parts(state_dir=tmp_path / "shared", **PEOPLE), "ada")
    carol = acting_for(make_parts(state_dir=tmp_path / "shared", **PEOPLE), "carol")
    async with Client(ada.server) as a, Client(carol.server) as c, Person(ada.console, secret=BOB_SECRET) as bob:
        approval_id = (await call(a, "finalize_order", {"order_id": order_id}))["approval"]["approval_id"]
        await bob.approve(approval_id)
        stolen = await fail(c, "finalize_order", {"order_id": order_id, "approval_id": approval_id})
    assert "requested by another client, person or session" in stolen
    assert state.store.order(order_id).status == "draft"


async def test_a_client_acting_for_a_person_is_never_asked_in_its_own_form(make_parts: Any, seed: SeedInfo) -> None:
    """Even a client the operator marked as having a person at the screen: that person is the asker."""
    parts = acting_for(make_parts(person_clients=[], **PEOPLE), "ada", client="stdio")

    async def approve(*_: Any) -> Any:
        raise AssertionError("the client's form was asked")

    async with Client(parts.server, elicitation_callback=approve) as client:
        asked = await call(client, "finalize_order", {"order_id": seed.draft_orders["good_card"]})
    assert asked["status"] == "approval_pending"


async def test_elicit_only_says_that_another_person_must_approve(make_parts: Any, seed: SeedInfo) -> None:
    parts = acting_for(make_parts(confirm="elicit", **PEOPLE), "ada")
    async with Client(parts.server) as client:
        said = await fail(client, "finalize_order", {"order_id": seed.draft_orders["good_card"]})
    assert "ada asked for it, only another person may approve it" in said
    assert "(--confirm elicit)" in said


async def test_the_store_refuses_an_approval_by_the_asker_whatever_the_channel(parts: ServerParts) -> None:
    store = await parts.store()
    request = NewApproval(
        tool="finalize_order",
        target="order-1",
        digest="d" * 64,
        facts={},
        summary="s",
        message="m",
        display=[],
        amount=100,
        currency="usd",
        client="oauth:desk",
        session=None,
        channel="console",
        ttl=600,
        asked_by="ada",
    )
    mine = await store.create_approval(request)
    with pytest.raises(OwnRequest):
        await store.decide(mine.id, approve=True, by="ada", redeem_window=60)
    assert (await store.get_approval(mine.id)).state == "pending"  # type: ignore[union-attr]
    approved = await store.decide(mine.id, approve=True, by="bob", redeem_window=60)
    assert approved.state == "approved" and approved.decided_by == "bob"
    theirs = await store.create_approval(request)
    assert (await store.decide(theirs.id, approve=False, by="ada", redeem_window=60)).state == "denied"


def test_a_form_answer_from_a_client_acting_for_a_person_approves_nothing(parts: ServerParts) -> None:
    """Checked again when an answer arrives: a form answered by the asker's own client is the asker's approval."""
    refusal = parts.guard.form_refusal(Caller("stdio", None, "ada"), 1500, "usd")
    assert refusal == "ada asked for it through this client, and only another person may approve it"
    assert parts.guard.form_refusal(Caller("stdio", None, None), 1500, "usd") is None


async def test_a_standing_approval_never_covers_what_its_signer_asks(
    make_parts: Any, seed: SeedInfo, state: EmulatorState
) -> None:
    from polar_orders_mcp.store.mandates import MandateStore
    from polar_orders_mcp.store.records import MandateTerms

    parts = acting_for(make_parts(**PEOPLE), "ada")
    store = await parts.store()
    terms = MandateTerms(tools=("finalize_order",), currency="usd", max_per_act=100_000)
    mine = await MandateStore(store).create(terms, by="ada", ttl=3600)  # type: ignore[arg-type]
    order_id = seed.draft_orders["good_card"]
    async with Client(parts.server) as client:
        asked = await call(client, "finalize_order", {"order_id": order_id})
    assert asked["status"] == "approval_pending"
    assert f"{mine.id} (ada): ada signed it, and it never covers what its signer asks" in asked["next_step"]
    assert state.store.order(order_id).status == "draft"
    theirs = acting_for(make_parts(**PEOPLE), "carol")
    async with Client(theirs.server) as client:
        done = await call(client, "finalize_order", {"order_id": order_id})
    assert done["status"] == "charged" and f"under standing approval {mine.id} signed by ada" in done["decided"]
