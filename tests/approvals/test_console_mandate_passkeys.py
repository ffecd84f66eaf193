"""Standing approvals signed with a passkey (a software one, through the console's own forms): asked when the
server needs a passkey for acts as large as the terms allow, its answer checked over the terms' digest and the
page's nonce, and stored with the mandate, under which an act is then done."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest
from mcp.client import Client
from webauthn.helpers import base64url_to_bytes

from polar_orders_mcp.approvals.passkeys import mandate_challenge
from polar_orders_mcp.emulator.seed import SeedInfo
from polar_orders_mcp.server.app import ServerParts
from tests.approvals.authenticator import SoftPasskey
from tests.approvals.console_client import Person
from tests.approvals.test_console_mandates import TERMS, mandate_store, refund, review, sign
from tests.approvals.test_passkeys import ORIGIN, PASSKEY_SETTINGS, enrol
from tests.tools.conftest import fail

pytestmark = pytest.mark.anyio


def challenge_of(page: str) -> bytes:
    found = re.search(r'data-challenge="([^"]*)"', page)
    assert found, "no passkey challenge on the page"
    return base64url_to_bytes(html.unescape(found.group(1)))


def field(page: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', page)
    assert found
    return html.unescape(found.group(1))


async def signed_in(parts: ServerParts) -> Person:
    person = Person(parts.console, base_url=ORIGIN)
    await person.sign_in()
    return person


async def test_signing_takes_the_passkey_and_its_proof_is_kept_with_the_mandate(
    make_parts: Any, seed: SeedInfo
) -> None:
    parts = make_parts(**PASSKEY_SETTINGS)
    async with await signed_in(parts) as person:
        key = SoftPasskey()
        assert (await enrol(person, key)).status_code == 303
        confirm = await review(person, TERMS)
        assert "Sign with passkey" in confirm.text and "data-passkey-approve" in confirm.text
        digest, nonce = field(confirm.text, "digest"), field(confirm.text, "nonce")
        assert challenge_of(confirm.text) == mandate_challenge(digest, 24, nonce)
        without = await sign(person, confirm)
        other = await review(person, TERMS)
        forged = await sign(person, other, assertion=key.get(mandate_challenge(digest, 24, "another"), ORIGIN))
        third = await review(person, TERMS)
        signed = await sign(person, third, assertion=key.get(challenge_of(third.text), ORIGIN))
    assert without.status_code == 403 and "Signing these terms needs your passkey." in without.text
    assert forged.status_code == 403 and "Nothing was made: your passkey&#x27;s answer does not prove these terms" in (
        forged.text
    )
    assert signed.status_code == 303, signed.text[:400]
    [(mandate, _)] = await (await mandate_store(parts)).listed()
    assert mandate.proof is not None and mandate.proof["digest"] == mandate.digest
    assert mandate.proof["credential_id"] == key.id and mandate.proof["origin"] == ORIGIN
    done = await refund(parts, seed, 1500)
    assert done["status"] == "refunded" and mandate.id in done["decided"]


async def test_without_a_passkey_enrolled_the_sign_step_says_how_to_get_one(make_parts: Any) -> None:
    parts = make_parts(**PASSKEY_SETTINGS)
    async with await signed_in(parts) as person:
        confirm = await review(person, TERMS)
    assert "Signing these terms needs your passkey, and you have none yet" in confirm.text
    assert "/mandates/sign" not in confirm.text


async def test_passkey_above_asks_one_only_for_terms_that_allow_more(make_parts: Any) -> None:
    parts = make_parts(console_url=f"{ORIGIN}/approvals", passkey_above="usd=5000")
    async with await signed_in(parts) as person:
        small = await review(person, TERMS)
        large = await review(person, {**TERMS, "max_per_act": "50.01"})
        signed = await sign(person, small)
    assert '<button class="approve sign" type="submit">Sign</button>' in small.text
    assert "needs your passkey" in large.text
    assert signed.status_code == 303


async def test_removing_the_passkey_that_signed_a_mandate_stops_what_it_allows(make_parts: Any, seed: SeedInfo) -> None:
    parts = make_parts(**PASSKEY_SETTINGS)
    async with await signed_in(parts) as person:
        key = SoftPasskey()
        assert (await enrol(person, key)).status_code == 303
        confirm = await review(person, TERMS)
        assert (await sign(person, confirm, assertion=key.get(challenge_of(confirm.text), ORIGIN))).status_code == 303
    [(mandate, _)] = await (await mandate_store(parts)).listed()
    assert await (await parts.store()).remove_passkey(key.id, approver="approver")
    async with Client(parts.server) as client:
        refused = await fail(client, "create_refund", {"order_id": seed.paid_order_id, "total": 1500})
    assert f"was granted under standing approval {mandate.id}, signed with a passkey since removed" in refused
