"""Each channel that asks a person, in both protocol eras, and the policy that picks one per call."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import anyio
import mcp_types as types
import pytest
from mcp.client import Client
from mcp.client.session import ClientSession

from polar_orders_mcp.approvals.policy import capabilities
from polar_orders_mcp.emulator.seed import SeedInfo
from polar_orders_mcp.emulator.state import EmulatorState
from polar_orders_mcp.server.app import ServerParts
from tests.approvals.console_client import Person
from tests.approvals.form_person import typed_yes
from tests.tools.conftest import call, fail

pytestmark = pytest.mark.anyio


@contextmanager
def url_only_clients() -> Iterator[None]:
    """Clients that declare URL elicitation only. The SDK's client declares both modes whenever it has an
    elicitation callback, and no other client is at hand here, so its capability ad is narrowed."""
    original = ClientSession._build_capabilities

    def narrowed(self: ClientSession, version: str) -> types.ClientCapabilities:
        declared = original(self, version)
        if declared.elicitation is not None:
            declared.elicitation = types.ElicitationCapability(url=types.UrlElicitationCapability())
        return declared

    ClientSession._build_capabilities = narrowed  # type: ignore[method-assign]
    try:
        yield
    finally:
        ClientSession._build_capabilities = original  # type: ignore[method-assign]


class Browser:
    """A URL elicitation's person: opens the page they were sent to, signs in, decides there."""

    def __init__(self, person: Person, decision: str = "approve", *, before_answering: bool = True) -> None:
        self.person, self.decision, self.before = person, decision, before_answering
        self.opened: list[str] = []
        self.messages: list[str] = []

    async def __call__(self, _ctx: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        assert isinstance(params, types.ElicitRequestURLParams), params
        self.opened.append(params.url)
        self.messages.append(params.message)
        approval_id = params.url.rsplit("/", 1)[1]
        if self.before:
            await self.decide(approval_id)
        return types.ElicitResult(action="accept")

    async def decide(self, approval_id: str) -> None:
        response = await (self.person.approve if self.decision == "approve" else self.person.deny)(approval_id)
        assert response.status_code == 303, response.text[:300]


@pytest.mark.parametrize(
    ("form", "url", "expected"),
    [
        (None, None, (False, False)),  # no elicitation at all
        (False, False, (True, False)),  # a bare `elicitation: {}`, from before modes existed: form
        (True, False, (True, False)),
        (False, True, (False, True)),
        (True, True, (True, True)),
    ],
)
def test_the_capability_matrix(form: bool | None, url: bool, expected: tuple[bool, bool]) -> None:
    if form is None:
        declared = types.ClientCapabilities()
    else:
        declared = types.ClientCapabilities(
            elicitation=types.ElicitationCapability(
                form=types.FormElicitationCapability() if form else None,
                url=types.UrlElicitationCapability() if url else None,
            )
        )

    class Ctx:
        client_capabilities = declared

    assert capabilities(Ctx()) == expected  # type: ignore[arg-type]


async def test_url_elicitation_sends_the_person_to_the_requests_page(
    make_parts: Any, seed: SeedInfo, state: EmulatorState, mode: str
) -> None:
    parts: ServerParts = make_parts(approval_wait=5)
    order_id = seed.draft_orders["good_card"]
    async with Person(parts.console) as person:
        browser = Browser(person)
        with url_only_clients():
            async with Client(parts.server, mode=mode, elicitation_callback=browser) as client:
                charged = await call(client, "finalize_order", {"order_id": order_id})
    assert charged["status"] == "charged"
    assert state.store.order(order_id).status == "paid"
    [link] = browser.opened
    assert link.startswith("http://127.0.0.1:8765/approvals/apr_")
    assert "Charge $15.00 to good-card@example.com" in browser.messages[0]
    assert "approval_id" not in link and "secret" not in link and "token" not in link


async def test_url_elicitation_waits_for_a_decision_made_after_the_page_opened(
    make_parts: Any, seed: SeedInfo, state: EmulatorState
) -> None:
    parts: ServerParts = make_parts(approval_wait=5)
    order_id = seed.draft_orders["good_card"]
    async with Person(parts.console) as person:
        browser = Browser(person, before_answering=False)

        async def person_reads_then_approves() -> None:
            while not browser.opened:
                await anyio.sleep(0.02)
            await anyio.sleep(0.3)
            await browser.decide(browser.opened[0].rsplit("/", 1)[1])

        with url_only_clients():
            async with (
                Client(parts.server, mode="legacy", elicitation_callback=browser) as client,
                anyio.create_task_group() as group,
            ):
                group.start_soon(person_reads_then_approves)
                charged = await call(client, "finalize_order", {"order_id": order_id})
    assert charged["status"] == "charged"
    assert state.store.order(order_id).status == "paid"


async def test_a_denial_on_the_url_page_charges_nothing(
    make_parts: Any, seed: SeedInfo, state: EmulatorState, mode: str
) -> None:
    parts: ServerParts = make_parts(approval_wait=5)
    order_id = seed.draft_orders["good_card"]
    async with Person(parts.console) as person:
        with url_only_clients():
            async with Client(parts.server, mode=mode, elicitation_callback=Browser(person, "deny")) as client:
                message = await fail(client, "finalize_order", {"order_id": order_id})
    assert f"Order {order_id} was not charged: approver denied it in the approval console at" in message
    assert state.store.order(order_id).status == "draft"


async def test_a_url_page_nobody_decides_leaves_the_request_waiting(
    make_parts: Any, seed: SeedInfo, state: EmulatorState, mode: str
) -> None:
    parts: ServerParts = make_parts(approval_wait=0.3)
    order_id = seed.draft_orders["good_card"]

    async def opens_and_walks_away(_ctx: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        return types.ElicitResult(action="accept")

    with url_only_clients():
        async with Client(parts.server, mode=mode, elicitation_callback=opens_and_walks_away) as client:
            waiting = await call(client, "finalize_order", {"order_id": order_id})
    assert waiting["status"] == "approval_pending"
    assert state.store.order(order_id).status == "draft"


async def test_url_elicitation_needs_an_approver_to_sign_in(
    make_parts: Any, seed: SeedInfo, state: EmulatorState
) -> None:
    parts: ServerParts = make_parts(approver_token=None)
    asked: list[Any] = []

    async def browser(_ctx: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        asked.append(params)
        return types.ElicitResult(action="accept")

    with url_only_clients():
        async with Client(parts.server, elicitation_callback=browser) as client:
            message = await fail(client, "finalize_order", {"order_id": seed.draft_orders["good_card"]})
    assert asked == []
    assert "no approver is configured for the approval console: set POLAR_MCP_APPROVER_TOKEN" in message


async def test_a_client_that_cannot_ask_and_no_approver_means_nobody_can_approve(
    make_parts: Any, seed: SeedInfo, state: EmulatorState
) -> None:
    parts: ServerParts = make_parts(approver_token=None)
    order_id = seed.draft_orders["good_card"]
    async with Client(parts.server) as client:
        message = await fail(client, "finalize_order", {"order_id": order_id})
    assert message == (
        f"Error executing tool finalize_order: Order {order_id} was not charged: no person can be asked. This "
        "client cannot show confirmation requests, and no approver is configured for the approval console: set "
        "POLAR_MCP_APPROVER_TOKEN (one approver) or POLAR_MCP_APPROVERS=name:secret,… (named approvers) in the "
        "server's environment, and restart it."
    )
    assert state.store.order(order_id).status == "draft"


async def form_says_yes(_ctx: Any, _params: types.ElicitRequestParams) -> types.ElicitResult:
    raise AssertionError("the person was asked in the client, where the policy forbids it")


async def test_console_mode_uses_the_console_even_when_the_client_could_ask(
    make_parts: Any, seed: SeedInfo, state: EmulatorState, mode: str
) -> None:
    parts: ServerParts = make_parts(confirm="console")
    async with Client(parts.server, mode=mode, elicitation_callback=form_says_yes) as client:
        waiting = await call(client, "finalize_order", {"order_id": seed.draft_orders["good_card"]})
    assert waiting["status"] == "approval_pending"


async def test_console_mode_waits_for_the_supervisor_and_reports_progress(
    make_parts: Any, seed: SeedInfo, state: EmulatorState
) -> None:
    parts: ServerParts = make_parts(confirm="console", approval_wait=10)
    order_id = seed.draft_orders["good_card"]
    progress: list[float] = []

    async def supervisor(person: Person) -> None:
        store = await parts.store()
        while not (pending := await store.list_approvals(states=["pending"])):
            await anyio.sleep(0.05)
        await anyio.sleep(0.2)
        await person.approve(pending[0].id)

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        progress.append(value)

    async with (
        Client(parts.server, mode="legacy") as client,
        Person(parts.console) as person,
        anyio.create_task_group() as group,
    ):
        group.start_soon(supervisor, person)
        result = await client.call_tool("finalize_order", {"order_id": order_id}, progress_callback=on_progress)
    assert not result.is_error, result.content
    assert result.structured_content is not None and result.structured_content["status"] == "charged"
    assert progress and progress[0] < 1  # reported as soon as the call starts waiting
    assert state.store.order(order_id).status == "paid"


async def test_above_the_threshold_only_the_console_may_approve(
    make_parts: Any, seed: SeedInfo, state: EmulatorState, mode: str
) -> None:
    parts: ServerParts = make_parts(approval_above="usd=1000")  # the good card's draft is $15.00
    async with Client(parts.server, mode=mode, elicitation_callback=form_says_yes) as client:
        waiting = await call(client, "finalize_order", {"order_id": seed.draft_orders["good_card"]})
    assert waiting["status"] == "approval_pending"


async def test_below_the_threshold_the_client_asks(make_parts: Any, seed: SeedInfo, state: EmulatorState) -> None:
    parts: ServerParts = make_parts(approval_above="usd=5000,eur=1")

    async def yes(_ctx: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        return typed_yes(params)

    async with Client(parts.server, elicitation_callback=yes) as client:
        charged = await call(client, "finalize_order", {"order_id": seed.draft_orders["good_card"]})
    assert charged["status"] == "charged"


async def test_elicit_mode_refuses_a_client_that_cannot_ask(
    make_parts: Any, seed: SeedInfo, state: EmulatorState
) -> None:
    order_id = seed.draft_orders["good_card"]
    async with Client(make_parts(confirm="elicit").server) as client:
        message = await fail(client, "finalize_order", {"order_id": order_id})
    assert "(--confirm elicit), and this client cannot show confirmation requests" in message
    assert state.store.order(order_id).status == "draft"


async def test_relay_mode_hands_the_model_a_token_it_can_pass_back(
    make_parts: Any, seed: SeedInfo, state: EmulatorState, mode: str
) -> None:
    order_id = seed.draft_orders["good_card"]
    async with Client(make_parts(confirm="relay").server, mode=mode, elicitation_callback=form_says_yes) as client:
        first = await call(client, "finalize_order", {"order_id": order_id})
        token = first["approval"]["approval_id"]
        assert first["status"] == "confirmation_required" and token.startswith("pr1.apr_")
        bare = await fail(client, "finalize_order", {"order_id": order_id, "approval_id": token.split(".")[1]})
        assert "only by passing back the whole confirmation token" in bare
        charged = await call(client, "finalize_order", {"order_id": order_id, "approval_id": token})
        again = await fail(client, "finalize_order", {"order_id": order_id, "approval_id": token})
    assert charged["status"] == "charged"
    assert "not a draft" in again
    assert state.store.order(order_id).status == "paid"


async def test_a_relay_token_is_refused_outside_relay_mode(
    make_parts: Any, seed: SeedInfo, state: EmulatorState
) -> None:
    order_id = seed.draft_orders["good_card"]
    async with Client(make_parts(confirm="relay").server) as client:
        token = (await call(client, "finalize_order", {"order_id": order_id}))["approval"]["approval_id"]
    async with Client(make_parts().server) as client:
        message = await fail(client, "finalize_order", {"order_id": order_id, "approval_id": token})
    assert "this server does not take confirmation tokens" in message
    assert state.store.order(order_id).status == "draft"


async def test_off_mode_charges_at_once(make_parts: Any, seed: SeedInfo, state: EmulatorState) -> None:
    order_id = seed.draft_orders["good_card"]
    async with Client(make_parts(confirm="off").server) as client:
        result = await call(client, "finalize_order", {"order_id": order_id})
    assert result["status"] == "charged"
    assert state.store.order(order_id).status == "paid"
