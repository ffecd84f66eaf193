"""Passkeys for approval decisions, without a browser: a software passkey enrols and approves through the
console's own forms, and every way an assertion can fail to prove the decision is refused, at the decision or
again before the act. The browser tests (test_passkeys_browser.py) run the same path in Chromium."""

from __future__ import annotations

import html
import json
import re
from typing import Any

import httpx2
import mcp_types as types
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from mcp.client import Client
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url

from polar_orders_mcp.approvals.passkeys import PasskeyPolicy, decision_challenge, site_of
from polar_orders_mcp.emulator.seed import SeedInfo
from polar_orders_mcp.emulator.state import EmulatorState
from polar_orders_mcp.server.app import ServerParts
from polar_orders_mcp.settings import Settings
from tests.approvals.authenticator import SoftPasskey
from tests.approvals.console_client import APPROVER_SECRET, Person
from tests.approvals.form_person import typed_yes
from tests.store.test_sql_store import execute
from tests.tools.conftest import call, fail

pytestmark = pytest.mark.anyio

ORIGIN = "http://localhost:8765"
PASSKEY_SETTINGS: dict[str, Any] = {"console_url": f"{ORIGIN}/approvals", "approval_proof": "passkey"}


def _field(page: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', page)
    assert found, f"no {name} field in the page"
    return html.unescape(found.group(1))


def _data(page: str, name: str) -> str:
    found = re.search(rf'data-{name}="([^"]*)"', page)
    assert found, f"no data-{name} in the page"
    return html.unescape(found.group(1))


async def enrol(person: Person, key: SoftPasskey, *, origin: str = ORIGIN) -> httpx2.Response:
    page = (await person.http.get("/approvals/passkeys")).text
    options = json.loads(_data(page, "options"))
    credential = key.create(base64url_to_bytes(options["challenge"]), origin)
    form = {"csrf": _field(page, "csrf"), "nonce": _field(page, "nonce"), "name": "laptop", "credential": credential}
    return await person.http.post("/approvals/passkeys", data=form, headers={"Origin": ORIGIN})


class Page:
    """A request's page as a person's browser has it: the challenge and nonce it was served with."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.csrf = _field(text, "csrf")
        self.nonce = _field(text, "nonce")
        self.challenge = base64url_to_bytes(_data(text, "challenge"))


async def open_page(person: Person, approval_id: str) -> Page:
    response = await person.http.get(f"/approvals/{approval_id}")
    assert response.status_code == 200, response.text[:300]
    return Page(response.text)


async def post_approval(person: Person, approval_id: str, page: Page, assertion: str) -> httpx2.Response:
    form = {"csrf": page.csrf, "decision": "approve", "nonce": page.nonce, "assertion": assertion}
    return await person.http.post(f"/approvals/{approval_id}", data=form, headers={"Origin": ORIGIN})


async def approve_with(person: Person, key: SoftPasskey, approval_id: str, **signing: Any) -> httpx2.Response:
    page = await open_page(person, approval_id)
    return await post_approval(person, approval_id, page, key.get(page.challenge, ORIGIN, **signing))


def not_charged(order_id: str, approval_id: str) -> str:
    return f"Error executing tool finalize_order: Order {order_id} was not charged: approval {approval_id} "


def refusal(response: httpx2.Response) -> str:
    found = re.search(r"<main><h1>[^<]*</h1><p>(.*?)</p>", response.text)
    return html.unescape(found.group(1)) if found else response.text[:300]


@pytest.fixture
def parts(make_parts: Any) -> ServerParts:
    return make_parts(**PASSKEY_SETTINGS)  # type: ignore[no-any-return]


@pytest.fixture
async def person(parts: ServerParts) -> Any:
    async with Person(parts.console, base_url=ORIGIN) as someone:
        await someone.sign_in()
        yield someone


@pytest.fixture
async def key(person: Person) -> SoftPasskey:
    made = SoftPasskey()
    assert (await enrol(person, made)).status_code == 303
    return made


async def ask(client: Client, order_id: str) -> str:
    first = await call(client, "finalize_order", {"order_id": order_id})
    assert first["status"] == "approval_pending", first
    return str(first["approval"]["approval_id"])


async def test_an_approver_enrols_a_passkey_approves_with_it_and_the_agents_next_call_charges(
    parts: ServerParts, person: Person, key: SoftPasskey, seed: SeedInfo, state: EmulatorState
) -> None:
    order_id = seed.draft_orders["good_card"]
    async with Client(parts.server) as client:
        approval_id = await ask(client, order_id)
        approved = await approve_with(person, key, approval_id)
        charged = await call(client, "finalize_order", {"order_id": order_id, "approval_id": approval_id})
    listed = (await person.http.get("/approvals/passkeys")).text
    stored = await (await parts.store()).get_approval(approval_id)
    assert approved.status_code == 303 and approved.headers["location"].endswith("?done=approved")
    assert charged["status"] == "charged" and state.store.order(order_id).status == "paid"
    assert stored is not None and stored.proof is not None and stored.decided_by == "approver"
    proven = (stored.proof["credential_id"], stored.proof["origin"], stored.proof["rp_id"])
    assert proven == (key.id, ORIGIN, "localhost")
    assert "laptop" in listed and "never" not in listed  # last used: now


async def test_a_plain_approve_is_refused_when_a_passkey_is_needed_and_a_deny_needs_none(
    parts: ServerParts, person: Person, seed: SeedInfo, state: EmulatorState
) -> None:
    async with Client(parts.server) as client:
        first = await ask(client, seed.draft_orders["good_card"])
        plain = await person.approve(first)
        denied = await person.deny(first)
    assert (plain.status_code, refusal(plain)) == (
        403,
        "Approving this request needs your passkey: open the request and press Approve with passkey. If you have no "
        "passkey yet, add one on your Passkeys page first. Deny needs none.",
    )
    assert denied.status_code == 303
    assert state.store.order(seed.draft_orders["good_card"]).status == "draft"


async def test_an_approver_without_a_passkey_is_told_to_add_one(
    parts: ServerParts, person: Person, seed: SeedInfo
) -> None:
    async with Client(parts.server) as client:
        approval_id = await ask(client, seed.draft_orders["good_card"])
    page = (await person.http.get(f"/approvals/{approval_id}")).text
    listing = (await person.http.get("/approvals")).text
    assert "you have none yet: add one on your Passkeys page (top right), then come back here." in page
    assert "data-passkey-approve" not in page and 'value="approve"' not in page
    assert "Open it to approve with your passkey" in listing and 'value="approve"' not in listing


@pytest.mark.parametrize(
    ("signing", "said"),
    [
        ({"origin": "http://localhost:9999"}, 'Unexpected client data origin "http://localhost:9999"'),
        ({"rp_id": "evil.localhost"}, "Unexpected RP ID hash"),
        ({"uv": False}, "User verification is required"),
    ],
    ids=["another-origin", "another-rp-id", "no-user-verification"],
)
async def test_an_assertion_not_made_here_by_a_verified_person_is_refused(
    parts: ServerParts, person: Person, key: SoftPasskey, seed: SeedInfo, signing: dict[str, Any], said: str
) -> None:
    async with Client(parts.server) as client:
        approval_id = await ask(client, seed.draft_orders["good_card"])
    page = await open_page(person, approval_id)
    origin = signing.pop("origin", ORIGIN)
    refused = await post_approval(person, approval_id, page, key.get(page.challenge, origin, **signing))
    assert refused.status_code == 403
    assert refusal(refused).startswith(f"Not approved: your passkey's answer does not prove this decision ({said}")
    assert (await (await parts.store()).get_approval(approval_id)).state == "pending"  # type: ignore[union-attr]


async def test_a_pages_challenge_is_good_once(
    parts: ServerParts, person: Person, key: SoftPasskey, seed: SeedInfo
) -> None:
    async with Client(parts.server) as client:
        approval_id = await ask(client, seed.draft_orders["good_card"])
    page = await open_page(person, approval_id)
    first = await post_approval(person, approval_id, page, key.get(page.challenge, ORIGIN, uv=False))
    replayed = await post_approval(person, approval_id, page, key.get(page.challenge, ORIGIN))
    assert first.status_code == 403
    assert (replayed.status_code, refusal(replayed)) == (
        403,
        "This page's passkey challenge was used already or is out of date: reload the page and try again.",
    )


async def test_an_assertion_is_not_good_with_another_pages_nonce(
    parts: ServerParts, person: Person, key: SoftPasskey, seed: SeedInfo
) -> None:
    async with Client(parts.server) as client:
        approval_id = await ask(client, seed.draft_orders["good_card"])
    captured = await open_page(person, approval_id)
    assertion = key.get(captured.challenge, ORIGIN)
    later = await open_page(person, approval_id)
    replayed = await post_approval(person, approval_id, later, assertion)
    assert replayed.status_code == 403
    assert "Client data challenge was not expected challenge" in refusal(replayed)


async def test_an_assertion_whose_count_did_not_move_on_is_refused(
    parts: ServerParts, person: Person, key: SoftPasskey, seed: SeedInfo
) -> None:
    orders = [seed.draft_orders["good_card"], seed.draft_orders["declining_card"]]
    async with Client(parts.server) as client:
        first, second = [await ask(client, order_id) for order_id in orders]
        assert (await approve_with(person, key, first, count=7)).status_code == 303
        again = await approve_with(person, key, second, count=7)
    assert again.status_code == 403
    assert "Response sign count of 7 was not greater than current count of 7" in refusal(again)


async def test_an_assertion_for_another_approval_is_refused(
    parts: ServerParts, person: Person, key: SoftPasskey, seed: SeedInfo
) -> None:
    orders = [seed.draft_orders["good_card"], seed.draft_orders["declining_card"]]
    async with Client(parts.server) as client:
        first, second = [await ask(client, order_id) for order_id in orders]
    page = await open_page(person, first)
    for_first = key.get(page.challenge, ORIGIN)
    other_page = await open_page(person, second)
    with_first_nonce = await post_approval(person, second, page, for_first)
    with_its_own_nonce = await post_approval(person, second, other_page, for_first)
    assert refusal(with_first_nonce) == (
        "This page's passkey challenge was used already or is out of date: reload the page and try again."
    )
    assert "Client data challenge was not expected challenge" in refusal(with_its_own_nonce)


async def test_a_passkey_of_another_approver_or_a_removed_one_approves_nothing(make_parts: Any, seed: SeedInfo) -> None:
    parts: ServerParts = make_parts(
        **PASSKEY_SETTINGS, approver_token=None, approvers=f"ada:{APPROVER_SECRET},bob:{APPROVER_SECRET}-bob"
    )
    async with (
        Person(parts.console, base_url=ORIGIN) as ada,
        Person(parts.console, base_url=ORIGIN, secret=f"{APPROVER_SECRET}-bob") as bob,
        Client(parts.server) as client,
    ):
        await ada.sign_in()
        await bob.sign_in()
        adas, bobs = SoftPasskey(), SoftPasskey()
        await enrol(ada, adas)
        await enrol(bob, bobs)
        approval_id = await ask(client, seed.draft_orders["good_card"])
        page = await open_page(bob, approval_id)
        with_adas = await post_approval(bob, approval_id, page, adas.get(page.challenge, ORIGIN))
        second = await open_page(bob, approval_id)  # served while his passkey was his; answered once removed
        listed = (await bob.http.get("/approvals/passkeys")).text
        form = {"csrf": _field(listed, "csrf"), "credential_id": bobs.id}
        await bob.http.post("/approvals/passkeys/remove", data=form, headers={"Origin": ORIGIN})
        removed = await post_approval(bob, approval_id, second, bobs.get(second.challenge, ORIGIN))
    assert refusal(with_adas) == (
        "Not approved: that passkey is not one of yours here: use one listed on your Passkeys page."
    )
    assert refusal(removed) == ("Not approved: that passkey was removed: use another one listed on your Passkeys page.")


async def test_a_passkey_removed_after_approving_stops_the_act(
    parts: ServerParts, person: Person, key: SoftPasskey, seed: SeedInfo, state: EmulatorState
) -> None:
    order_id = seed.draft_orders["good_card"]
    async with Client(parts.server) as client:
        approval_id = await ask(client, order_id)
        assert (await approve_with(person, key, approval_id)).status_code == 303
        listed = (await person.http.get("/approvals/passkeys")).text
        form = {"csrf": _field(listed, "csrf"), "credential_id": key.id}
        removed = await person.http.post("/approvals/passkeys/remove", data=form, headers={"Origin": ORIGIN})
        told = await fail(client, "finalize_order", {"order_id": order_id, "approval_id": approval_id})
    assert removed.status_code == 303
    assert told == (
        not_charged(order_id, approval_id)
        + "cannot be acted on: the passkey it was approved with (laptop) was removed since. "
        "Call finalize_order again without approval_id for a person to approve it again."
    )
    assert state.store.order(order_id).status == "draft"


async def test_a_digest_rewritten_in_the_store_after_a_passkey_approval_stops_the_act(
    parts: ServerParts, person: Person, key: SoftPasskey, seed: SeedInfo, state: EmulatorState
) -> None:
    """Whoever can write the database can rewrite an approval's facts and digest; not what the passkey signed."""
    order_id = seed.draft_orders["good_card"]
    store = await parts.store()
    async with Client(parts.server) as client:
        approval_id = await ask(client, order_id)
        assert (await approve_with(person, key, approval_id)).status_code == 303
        url = store.url_for_humans  # type: ignore[attr-defined]
        await execute(url, f"UPDATE pom_approvals SET digest = '{'0' * 64}' WHERE id = '{approval_id}'")
        told = await fail(client, "finalize_order", {"order_id": order_id, "approval_id": approval_id})
    assert told.startswith(
        not_charged(order_id, approval_id)
        + "cannot be acted on: its passkey proof does not verify (Client data challenge was not expected challenge)."
    )
    assert state.store.order(order_id).status == "draft"


async def test_a_proof_that_does_not_verify_stops_the_act(
    parts: ServerParts, person: Person, key: SoftPasskey, seed: SeedInfo, state: EmulatorState
) -> None:
    order_id = seed.draft_orders["good_card"]
    store = await parts.store()
    async with Client(parts.server) as client:
        approval_id = await ask(client, order_id)
        assert (await approve_with(person, key, approval_id)).status_code == 303
        approval = await store.get_approval(approval_id)
        assert approval is not None and approval.proof is not None
        other = key.key.sign(b"something else", ec.ECDSA(hashes.SHA256()))
        forged = json.dumps({**approval.proof, "signature": bytes_to_base64url(other)})
        await execute(
            store.url_for_humans,  # type: ignore[attr-defined]
            f"UPDATE pom_approvals SET proof = '{forged}' WHERE id = '{approval_id}'",
        )
        told = await fail(client, "finalize_order", {"order_id": order_id, "approval_id": approval_id})
    assert told.startswith(
        not_charged(order_id, approval_id)
        + "cannot be acted on: its passkey proof does not verify (Could not verify authentication signature)."
    )
    assert state.store.order(order_id).status == "draft"


async def test_an_approval_needing_a_passkey_approved_without_one_is_not_acted_on(
    parts: ServerParts, seed: SeedInfo, state: EmulatorState
) -> None:
    """However it came to be approved (another replica's older version, the database): no passkey, no act."""
    order_id = seed.draft_orders["good_card"]
    store = await parts.store()
    async with Client(parts.server) as client:
        approval_id = await ask(client, order_id)
        await store.decide(approval_id, approve=True, by="approver", redeem_window=300)
        told = await fail(client, "finalize_order", {"order_id": order_id, "approval_id": approval_id})
    assert told == (
        not_charged(order_id, approval_id)
        + "was approved without a passkey, and this server needs the approver's passkey for it. "
        "Call finalize_order again without approval_id for a person to approve it again."
    )
    assert state.store.order(order_id).status == "draft"


async def test_a_request_needing_a_passkey_is_never_asked_in_the_clients_form(
    parts: ServerParts, seed: SeedInfo
) -> None:
    asked: list[str] = []

    async def client_asks(_ctx: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        asked.append(params.mode)
        return types.ElicitResult(action="cancel")

    async with Client(parts.server, mode="legacy", elicitation_callback=client_asks) as client:
        await client.call_tool("finalize_order", {"order_id": seed.draft_orders["good_card"]})
    assert asked == ["url"]


async def test_above_the_passkey_amount_a_passkey_is_needed_and_below_it_the_form_asks(
    make_parts: Any, seed: SeedInfo, state: EmulatorState
) -> None:
    """The good card's draft is $15.00: above usd=1000, not above usd=1500."""
    modes: list[str] = []

    async def form_yes(_ctx: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        modes.append(params.mode or "form")
        return (
            typed_yes(params)
            if isinstance(params, types.ElicitRequestFormParams)
            else types.ElicitResult(action="accept")
        )

    order_id = seed.draft_orders["good_card"]
    above = make_parts(console_url=f"{ORIGIN}/approvals", passkey_above="usd=1499")
    async with Client(above.server, mode="legacy", elicitation_callback=form_yes) as client:
        await client.call_tool("finalize_order", {"order_id": order_id})
    at = make_parts(console_url=f"{ORIGIN}/approvals", passkey_above="usd=1500")
    async with Client(at.server, mode="legacy", elicitation_callback=form_yes) as client:
        charged = await call(client, "finalize_order", {"order_id": order_id})
    assert modes == ["url", "form"] and charged["status"] == "charged"


def test_what_needs_a_passkey() -> None:
    from polar_orders_mcp.approvals.limits import Limits

    above = PasskeyPolicy(above=Limits.parse("usd=1000"))
    assert (above.needs(1001, "usd"), above.needs(1000, "usd"), above.needs(1, "eur"), above.needs(None, "usd")) == (
        True,
        False,
        True,
        False,
    )
    assert PasskeyPolicy("passkey").needs(None, None) and not PasskeyPolicy().needs(10**9, "usd")


def test_the_challenge_covers_the_approval_its_facts_the_decision_and_the_nonce() -> None:
    base = ("apr_1", "d" * 64, "approve", "nonce-1")
    others = [
        ("apr_2", "d" * 64, "approve", "nonce-1"),
        ("apr_1", "e" * 64, "approve", "nonce-1"),
        ("apr_1", "d" * 64, "deny", "nonce-1"),
        ("apr_1", "d" * 64, "approve", "nonce-2"),
    ]
    assert len({decision_challenge(*base), *(decision_challenge(*o) for o in others)}) == 5
    assert decision_challenge(*base) == decision_challenge(*base)


@pytest.mark.parametrize(
    ("url", "site"),
    [
        ("http://localhost:8765/approvals", ("localhost", "http://localhost:8765")),
        ("https://mcp.example.com/approvals", ("mcp.example.com", "https://mcp.example.com")),
        ("https://MCP.example.com:443/approvals", ("mcp.example.com", "https://mcp.example.com")),
        ("https://mcp.example.com:8443/approvals", ("mcp.example.com", "https://mcp.example.com:8443")),
        ("http://127.0.0.1:8765/approvals", "browsers refuse passkeys on an IP address (127.0.0.1)"),
        ("http://mcp.example.com/approvals", "browsers offer passkeys only over https (or on localhost)"),
        (None, "passkeys need the console's own address"),
    ],
)
def test_the_passkey_site_is_the_consoles_configured_address(url: str | None, site: Any) -> None:
    found = site_of(url)
    if isinstance(site, tuple):
        assert (found.rp_id, found.origin) == site  # type: ignore[union-attr]
    else:
        assert isinstance(found, str) and found.startswith(site)


@pytest.mark.parametrize(
    ("settings", "said"),
    [
        ({"confirm": "relay"}, "--approval-proof passkey needs a person in the approval console"),
        ({"transport": "http"}, "--approval-proof passkey binds passkeys to the console's exact address"),
        ({"console_url": "http://127.0.0.1:8765/approvals"}, "--approval-proof passkey: browsers refuse passkeys"),
    ],
)
def test_settings_that_cannot_ask_for_a_passkey_are_refused(settings: dict[str, Any], said: str) -> None:
    with pytest.raises(ValueError, match=re.escape(said)):
        Settings(emulator=True, approval_proof="passkey", **settings)


async def test_a_passkey_approval_is_acted_on_only_where_it_was_made(
    parts: ServerParts, person: Person, key: SoftPasskey, seed: SeedInfo, state: EmulatorState
) -> None:
    """A console that moved to another address (a stdio server restarted on another port) acts on none of the
    passkey approvals made on the old one: an origin is checked exactly, again before acting."""
    order_id = seed.draft_orders["good_card"]
    async with Client(parts.server) as client:
        approval_id = await ask(client, order_id)
        assert (await approve_with(person, key, approval_id)).status_code == 303
        parts.console.base_url = "http://localhost:9999/approvals"
        told = await fail(client, "finalize_order", {"order_id": order_id, "approval_id": approval_id})
    assert told.startswith(
        not_charged(order_id, approval_id) + "cannot be acted on: its passkey proof does not verify (Unexpected "
        'client data origin "http://localhost:8765", expected "http://localhost:9999").'
    )
    assert state.store.order(order_id).status == "draft"


async def _unverified(store: Any, key: SoftPasskey, first: str, second: str) -> str:
    """The approval's proof re-signed by its own passkey without user verification."""
    approval = await store.get_approval(first)
    challenge = decision_challenge(first, approval.digest, "approve", approval.proof["nonce"])
    response = json.loads(key.get(challenge, ORIGIN, uv=False))["response"]
    proof = {
        **approval.proof,
        "authenticator_data": response["authenticatorData"],
        "client_data_json": response["clientDataJSON"],
        "signature": response["signature"],
    }
    return f"UPDATE pom_approvals SET proof = '{json.dumps(proof)}' WHERE id = '{first}'"


async def _copied(store: Any, key: SoftPasskey, first: str, second: str) -> str:
    """The first approval's proof put on the second, a request for the very same facts."""
    proof = json.dumps((await store.get_approval(first)).proof)
    decided = "state = 'approved', decided_by = 'approver'"
    return f"UPDATE pom_approvals SET proof = '{proof}', {decided} WHERE id = '{second}'"


async def _reassigned(store: Any, key: SoftPasskey, first: str, second: str) -> str:
    """The approval said to be decided by another approver than the passkey's."""
    return f"UPDATE pom_approvals SET decided_by = 'mallory' WHERE id = '{first}'"


@pytest.mark.parametrize(
    ("rewrite", "acted_on", "said"),
    [
        (_unverified, "first", "its passkey proof does not verify (User verification is required"),
        (_copied, "second", "its passkey proof does not verify (Client data challenge was not expected challenge)"),
        (_reassigned, "first", "its passkey proof is not its approver's approval"),
    ],
    ids=["without-user-verification", "copied-to-another-request", "another-approver"],
)
async def test_a_stored_proof_rewritten_in_the_store_is_not_acted_on(
    parts: ServerParts,
    person: Person,
    key: SoftPasskey,
    seed: SeedInfo,
    state: EmulatorState,
    rewrite: Any,
    acted_on: str,
    said: str,
) -> None:
    order_id = seed.draft_orders["good_card"]
    store = await parts.store()
    async with Client(parts.server) as client:
        first, second = await ask(client, order_id), await ask(client, order_id)
        assert (await approve_with(person, key, first)).status_code == 303
        await execute(store.url_for_humans, await rewrite(store, key, first, second))  # type: ignore[attr-defined]
        approval_id = first if acted_on == "first" else second
        told = await fail(client, "finalize_order", {"order_id": order_id, "approval_id": approval_id})
    assert told.startswith(not_charged(order_id, approval_id) + f"cannot be acted on: {said}")
    assert state.store.order(order_id).status == "draft"
