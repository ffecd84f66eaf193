"""The console's standing approvals (mandates): list and history, make one (form, terms in full, Sign), revoke.

Only a person signed in here makes a standing approval: no tool can. Every form is the console's (its session's
CSRF token, its own origin). Signing carries the digest of the terms the person read and a single-use nonce
served with that page; when the server asks a passkey for what the terms allow, the passkey signs a challenge
derived from both (passkeys.mandate_challenge), and its proof is stored with the mandate.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from polar_orders_mcp.approvals import mandate_pages, pages
from polar_orders_mcp.approvals.console import SESSION_COOKIE, STALE_PASSKEY_PAGE, _html, _key, _redirect
from polar_orders_mcp.approvals.mandate_form import Checked, Posted, check
from polar_orders_mcp.approvals.passkeys import (
    NONCE_TTL,
    PasskeyRefused,
    assertion_id,
    mandate_challenge,
    verify_mandate,
)
from polar_orders_mcp.money import money
from polar_orders_mcp.store.base import Store
from polar_orders_mcp.store.mandates import MandateStore
from polar_orders_mcp.store.records import Mandate, MandateTerms, Proven
from polar_orders_mcp.store.sql import SqlStore

if TYPE_CHECKING:
    from polar_orders_mcp.approvals.console import Console

log = logging.getLogger(__name__)

Endpoint = Callable[[Request], Awaitable[Response]]
DONE = {"created": "The standing approval was signed: it applies from now on.", "revoked": "It was revoked."}


def _mandates(store: Store) -> MandateStore:
    if not isinstance(store, SqlStore):  # the SQL store is the only one there is; another would keep no mandates
        raise TypeError("standing approvals need the SQL store")
    return MandateStore(store)


def _purpose(digest: str, hours: int) -> str:
    """The nonce's purpose: the Sign page of these terms, lasting these hours (at most 77 characters)."""
    return f"mandate:{digest}:{hours}"


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


class MandateDesk:
    """The standing approvals' pages of one console."""

    def __init__(self, console: Console) -> None:
        self.console = console

    def routes(self) -> list[tuple[str, list[str], Endpoint]]:
        p = f"{self.console.path}/mandates"
        return [
            (p, ["GET"], self._list),
            (f"{p}/new", ["GET"], self._new),
            (f"{p}/new", ["POST"], self._review),
            (f"{p}/sign", ["POST"], self._sign),
            (f"{p}/revoke", ["POST"], self._revoke),
        ]

    # Pages ------------------------------------------------------------------------------------------

    async def _list(self, request: Request, *, error: str | None = None, status: int = 200) -> Response:
        c = self.console
        if (refused := c._refuse(request)) is not None:
            return refused
        signed = await c._signed_in(request)
        if signed is None:
            return c._to_login(request, f"{c.path}/mandates")
        store = await c._store()
        listed = await _mandates(store).listed(ended=True)
        notice = DONE.get(request.query_params.get("done", ""))
        page = mandate_pages.mandates(
            listed,
            store.now(),
            approver=signed[0],
            csrf=signed[1],
            base=c.path,
            zone=c.zone,
            notice=notice,
            error=error,
            titles=c.titles,
        )
        return _html(page, status)

    async def _new(self, request: Request) -> Response:
        c = self.console
        if (refused := c._refuse(request)) is not None:
            return refused
        signed = await c._signed_in(request)
        if signed is None:
            return c._to_login(request, f"{c.path}/mandates/new")
        return self._form_page(Posted(), {}, signed)

    def _form_page(
        self, posted: Posted, errors: dict[str, str], signed: tuple[str, str], status: int = 200
    ) -> Response:
        c = self.console
        currency = posted.value("currency").strip().lower()
        limit = c.max_charge.of(currency) if len(currency) == 3 else None
        note = "e.g. 20.00" + (f"; this server's maximum per charge: {money(limit, currency)}" if limit else "")
        page = mandate_pages.form(
            posted,
            errors,
            tools=c.irreversible,
            limit_note=note,
            approver=signed[0],
            csrf=signed[1],
            base=c.path,
            titles=c.titles,
        )
        return _html(page, status)

    async def _posted(self, request: Request) -> tuple[tuple[str, str], FormData] | Response:
        """The signed-in approver (name, csrf) and their posted form, or the answer refusing it."""
        return await self.console.posted_form(request, "mandates")

    def _checked(self, posted: Posted) -> Checked | dict[str, str]:
        return check(posted, tools=self.console.irreversible, max_charge=self.console.max_charge)

    async def _review(self, request: Request) -> Response:
        """The form checked: shown again with what is wrong, or the terms in full with Sign."""
        got = await self._posted(request)
        if isinstance(got, Response):
            return got
        signed, form = got
        posted = Posted.of(form)
        checked = self._checked(posted)
        if isinstance(checked, dict):
            return self._form_page(posted, checked, signed, 400)
        c = self.console
        store = await c._store()
        digest, hours = checked.terms.digest(), checked.hours
        session_key = _key(request.cookies[SESSION_COOKIE])
        nonce = await store.create_passkey_nonce(token_hash=session_key, purpose=_purpose(digest, hours), ttl=NONCE_TTL)
        ask = await self._passkey_ask(store, signed[0], checked, nonce)
        page = mandate_pages.confirm(
            checked.terms,
            posted,
            digest=digest,
            nonce=nonce,
            hours=hours,
            passkey=ask,
            approver=signed[0],
            csrf=signed[1],
            base=c.path,
            titles=c.titles,
        )
        return _html(page)

    def needs_passkey(self, terms: MandateTerms) -> bool:
        """Whether signing these terms takes a passkey: the server asks one for acts as large as they allow."""
        return self.console.passkeys.needs(terms.max_per_act, terms.currency)

    async def _passkey_ask(self, store: Store, approver: str, checked: Checked, nonce: str) -> pages.PasskeyAsk | None:
        if not self.needs_passkey(checked.terms):
            return None
        site = self.console.site()
        if isinstance(site, str):
            return pages.PasskeyAsk(unable=f"Signing these terms needs a passkey, and {site}")
        keys = await store.list_passkeys(approver)
        if not keys:
            return pages.PasskeyAsk(
                unable="Signing these terms needs your passkey, and you have none yet: add one on your Passkeys page "
                "(top right), then make it again."
            )
        signed = mandate_challenge(checked.terms.digest(), checked.hours, nonce)
        challenge = base64.urlsafe_b64encode(signed).rstrip(b"=").decode()
        return pages.PasskeyAsk(
            rp_id=site.rp_id, challenge=challenge, nonce=nonce, credentials=tuple(k.credential_id for k in keys)
        )

    # Signing and revoking ---------------------------------------------------------------------------

    async def _sign(self, request: Request) -> Response:
        """Make the standing approval whose terms the person read (the digest on their page) and signed: its
        nonce used up whatever comes of it, the terms checked again, the passkey's answer when one is needed."""
        got = await self._posted(request)
        if isinstance(got, Response):
            return got
        (approver, _), form = got
        c = self.console
        store = await c._store()
        digest, nonce = str(form.get("digest", "")), str(form.get("nonce", ""))
        checked = self._checked(Posted.of(form))
        hours = checked.hours if isinstance(checked, Checked) else 0
        # The nonce is used up whatever comes of it; its purpose names the terms and the hours this page showed.
        fresh = await store.take_passkey_nonce(
            nonce, token_hash=_key(request.cookies[SESSION_COOKIE]), purpose=_purpose(digest[:64], hours)
        )
        if not fresh or isinstance(checked, dict) or checked.terms.digest() != digest:
            said = "This page was signed already or is out of date: nothing was made. Start again from the form."
            return _html(pages.message("Refused", said, base=f"{c.path}/mandates"), 403)
        proof = None
        if self.needs_passkey(checked.terms):
            proven = await self._proven(store, approver, str(form.get("assertion", "")), checked, nonce)
            if isinstance(proven, Response):
                return proven
            proof = proven.proof
        terms = checked.terms

        def entry(mandate: Mandate) -> dict[str, Any]:
            return {
                "time": _now_iso(),
                "event": "mandate_created",
                "mandate_id": mandate.id,
                "by": approver,
                "terms": terms.as_json(),
                "digest": mandate.digest,
                "passkey": proof is not None,
            }

        made = await _mandates(store).create(terms, by=approver, ttl=checked.hours * 3600.0, proof=proof, audit=entry)
        log.warning(
            "standing approval %s (terms digest %s…) signed by %r in the console, recorded in the audit chain",
            made.id,
            made.digest[:12],
            approver,
        )
        return _redirect(f"{c.path}/mandates?done=created#{made.id}")

    async def _proven(
        self, store: Store, approver: str, assertion: str, checked: Checked, nonce: str
    ) -> Proven | Response:
        """The passkey's answer over these terms, verified, its count moved on; else the answer refusing it."""
        c = self.console
        site = c.site()
        if isinstance(site, str):
            return _html(
                pages.message("Passkeys unavailable", f"Passkeys cannot be used here: {site}", base=c.path), 409
            )
        if not assertion:
            return _html(pages.message("Refused", "Signing these terms needs your passkey.", base=c.path), 403)
        passkey = await store.get_passkey(assertion_id(assertion))
        try:
            proven = verify_mandate(
                assertion,
                site=site,
                digest=checked.terms.digest(),
                hours=checked.hours,
                nonce=nonce,
                passkey=passkey,
                approver=approver,
            )
        except PasskeyRefused as exc:
            return _html(pages.message("Refused", f"Nothing was made: {exc}", base=c.path), 403)
        if not await _count_moved(store, proven, approver):
            return _html(pages.message("Refused", STALE_PASSKEY_PAGE, base=c.path), 409)
        return proven

    async def _revoke(self, request: Request) -> Response:
        got = await self._posted(request)
        if isinstance(got, Response):
            return got
        (approver, _), form = got
        mandate_id = str(form.get("mandate_id", ""))[:80]
        store = await self.console._store()

        def entry(mandate: Mandate) -> dict[str, Any]:
            return {"time": _now_iso(), "event": "mandate_revoked", "mandate_id": mandate.id, "by": approver}

        revoked = await _mandates(store).revoke(mandate_id, by=approver, audit=entry)
        if revoked is None:
            return await self._list(
                request, error="There is no active standing approval with this id: nothing was revoked.", status=404
            )
        log.warning("standing approval %s revoked by %r in the console", revoked.id, approver)
        return _redirect(f"{self.console.path}/mandates?done=revoked")


async def _count_moved(store: Store, proven: Proven, approver: str) -> bool:
    """Move the passkey's signature count on to the one its answer carried, if it is still the one checked: one
    use per count (as a decision's, in SqlStore.decide_with_passkey). False when it was used or removed since."""
    if not isinstance(store, SqlStore):
        return False
    return await store.count_passkey_use(proven, approver=approver)
