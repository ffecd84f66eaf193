"""The approval console: where a person signs in and approves or denies what an agent asked to do.

Approvers sign in with a secret the model never sees, exchanged for an HttpOnly, SameSite=Strict
session cookie (only its hash is stored). Every form carries a CSRF token bound to the session and
is refused from another origin. No secret is ever put in a URL, and no page shows a token.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets
import shlex
import unicodedata
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime, tzinfo
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, quote, urlsplit

import anyio
from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from polar_orders_mcp.approvals import pages, render
from polar_orders_mcp.approvals.limits import Limits
from polar_orders_mcp.approvals.passkeys import (
    NONCE_TTL,
    PasskeyPolicy,
    PasskeyRefused,
    Site,
    assertion_id,
    decision_challenge,
    registration_options,
    site_of,
    verify_decision,
    verify_enrolment,
)
from polar_orders_mcp.approvals.policy import Ctx
from polar_orders_mcp.approvals.script import PASSKEY_JS
from polar_orders_mcp.approvals.slowdown import SlowDown
from polar_orders_mcp.store.base import Store
from polar_orders_mcp.store.records import (
    Approval,
    ConsoleSession,
    NotPending,
    OwnRequest,
    Passkey,
    PasskeyChanged,
    Proven,
)

if TYPE_CHECKING:
    from polar_orders_mcp.approvals.oidc import OidcSignIn

log = logging.getLogger(__name__)

SESSION_COOKIE = "pom_console"
LOGIN_COOKIE = "pom_login"
SESSION_TTL = 8 * 3600.0
FORM_LIMIT = 16 * 1024
"""Bytes a console form may have: its fields are a token, a secret, a choice and a local path."""
BODY_TIMEOUT = 10.0
"""Seconds a posted form's body has to arrive once its head has (the server passes its --head-timeout)."""
HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    # same-origin, not no-referrer: with no-referrer Chromium sends "Origin: null" on the console's own forms.
    "Referrer-Policy": "same-origin",
}
# The console's pages run its one script, served by the console itself (passkeys, times in the viewer's zone);
# nothing inline.
SCRIPT_HEADERS = {
    **HEADERS,
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
}
PASSKEY_NAME_LIMIT = 64
DECIDED_HERE = ("console", "url")
PENDING_SHOWN = 100
"""Requests waiting for a decision a page of the list shows, the longest waiting first; links lead to the others."""
NOT_CONFIGURED = (
    "no approver is configured for the approval console: set POLAR_MCP_APPROVER_TOKEN (one approver) or "
    "POLAR_MCP_APPROVERS=name:secret,… (named approvers) in the server's environment, and restart it."
)

OWN_REQUEST = (
    "You asked for this yourself, through a client acting for you: another approver must approve it. You may deny it."
)
PASSKEY_NEEDED = (
    "Approving this request needs your passkey: open the request and press Approve with passkey. If you have no "
    "passkey yet, add one on your Passkeys page first. Deny needs none."
)
HAS_PASSKEY = (
    "You have a passkey already: to replace or add one, ask the operator to run "
    "`polar-orders-mcp passkeys reset {name}`, then add it here."
)
HAD_PASSKEY = (
    "Your passkey was removed, and only your first passkey is added with your approver secret alone: ask the "
    "operator to run `polar-orders-mcp passkeys reset {name}`, then add one here."
)
OUT_OF_DATE = "This form is out of date: reload the page and try again."
STALE_PASSKEY_PAGE = "This page's passkey challenge was used already or is out of date: reload the page and try again."


def _enrolment_closed(approver: str, since: list[Passkey]) -> str | None:
    """Why the approver cannot add a passkey in the console (their secret alone must not add one beside theirs,
    nor replace one removed), or None: they have had none since the operator last reset theirs."""
    if not since:
        return None
    said = HAS_PASSKEY if any(k.removed_at is None for k in since) else HAD_PASSKEY
    return said.format(name=shlex.quote(approver))


def reason_of(form: Any) -> str | None:
    """The approver's optional reason as posted: control, format and other invisible characters dropped, one
    line, at most pages.REASON_LIMIT characters (a sentence or two for the agent and the audit); None when nothing
    is left."""
    raw = form.get("reason")
    if not isinstance(raw, str):
        return None
    text = "".join(" " if unicodedata.category(ch)[0] in "CZ" and ch != " " else ch for ch in raw)
    text = " ".join(text.split())
    return text[: pages.REASON_LIMIT] or None


def _after_decision(done: str, approval: Approval, zone: tzinfo) -> tuple[str | None, str]:
    """What a person is told once they decided (the page's `done`), and its CSS class: what happens next."""
    if done == "approved" and approval.state == "approved":
        return (
            "You approved it. Nothing has happened yet: if the agent is waiting on it, its call goes on now; "
            f"if not, tell the agent to continue before {render.when(approval.expires_at, zone)}, when the "
            "approval lapses.",
            "done",
        )
    if done == "approved":
        return "You approved it.", "done"
    if done == "denied":
        told = " and your reason" if approval.reason else ""
        return (
            f"You denied it. Nothing was done: the agent is told of your decision{told} on its next call, and a "
            "new request for the same thing shows your denial to whoever decides it.",
            "plain",
        )
    return None, ""


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _key(cookie: str) -> str:
    """The store's key of the session a cookie names: the hash of its token (the part before the binding)."""
    return _hash(cookie.rpartition(".")[0] or cookie)


def _binding(secret: str, token: str) -> str:
    """What ties a session cookie to the approver's secret it was made with: rotating the secret ends it."""
    return hmac.new(secret.encode(), b"pom-console-session\n" + token.encode(), hashlib.sha256).hexdigest()[:32]


class Console:
    """The console's routes, its sign-in, and the links the guard hands out.

    `base_url` is where people reach it (e.g. https://mcp.example.com/approvals): set from the
    configuration, or learned when the stdio listener binds; else taken from each MCP request's Host.
    """

    def __init__(
        self,
        store: Callable[[], Awaitable[Store]],
        approvers: dict[str, str],
        *,
        path: str = "/approvals",
        base_url: str | None = None,
        allowed_hosts: Iterable[str] = (),
        redeem_window: float = 300.0,
        serving: bool = True,
        zone: tzinfo = UTC,
        passkeys: PasskeyPolicy | None = None,
        notice: str | None = None,
        slow_down: SlowDown | None = None,
        body_timeout: float = BODY_TIMEOUT,
        oidc: OidcSignIn | None = None,
        max_charge: Limits | None = None,
        irreversible: Sequence[str] = (),
        titles: Mapping[str, str] | None = None,
    ) -> None:
        self._store = store
        self._approvers = dict(approvers)
        self.path = path
        self.base_url = base_url
        self.allowed_hosts = list(allowed_hosts)
        self.redeem_window = redeem_window
        self.serving = serving
        self.zone = zone  # the times on its pages: the server's display zone, UTC beside
        self.passkeys = passkeys or PasskeyPolicy()
        self.notice = notice  # said beside every link handed out: e.g. that the configured port was taken
        self.slow_down = slow_down or SlowDown()
        self.body_timeout = body_timeout
        self.oidc = oidc  # sign-in through the external identity provider (--oauth-console)
        self.max_charge = max_charge or Limits()  # the server's --max-charge: no standing approval allows more
        self.irreversible = tuple(irreversible)  # the served tools that move money, which standing approvals name
        self.titles = dict(titles or {})  # every tool that moves money by its name, titled as the tool table says

    # What the guard asks ---------------------------------------------------------------------------

    def unavailable(self) -> str | None:
        if not self._approvers and self.oidc is None:
            return NOT_CONFIGURED
        if not self.serving:
            return "the approval console is not running (see the server's log for why)."
        return None

    def link(self, ctx: Ctx, approval_id: str | None = None) -> str:
        base = self.base_url
        if base is None:
            request = getattr(ctx.request_context, "request", None)
            if isinstance(request, Request):
                base = f"{request.url.scheme}://{request.url.netloc}{self.path}"
            else:
                base = f"http://127.0.0.1{self.path}"
        return f"{base}/{approval_id}" if approval_id else base

    def site(self) -> Site | str:
        """Where passkeys are made and checked: from the console's configured address (never a request's
        Host, which another local process could name), or why passkeys cannot be used."""
        return site_of(self.base_url)

    def routes(self) -> list[tuple[str, list[str], Callable[[Request], Awaitable[Response]]]]:
        """(path, methods, endpoint) of every page, to mount in an app."""
        # Imported here: the standing approvals' pages build on this module's helpers.
        from polar_orders_mcp.approvals.mandate_console import MandateDesk

        p = self.path
        return [
            (p, ["GET"], self._index),
            (f"{p}/", ["GET"], self._index),
            (f"{p}/login", ["GET"], self._login_form),
            (f"{p}/login", ["POST"], self._login),
            (f"{p}/logout", ["POST"], self._logout),
            # Before the approval pages, whose {approval_id} would take these names.
            (f"{p}/passkeys.js", ["GET"], self._script),
            (f"{p}/passkeys", ["GET"], self._passkeys_page),
            (f"{p}/passkeys", ["POST"], self._add_passkey),
            (f"{p}/passkeys/remove", ["POST"], self._remove_passkey),
            *MandateDesk(self).routes(),
            *(self.oidc.routes(self) if self.oidc is not None else []),
            (f"{p}/{{approval_id:str}}", ["GET"], self._detail),
            (f"{p}/{{approval_id:str}}", ["POST"], self._decide),
        ]

    # Pages ------------------------------------------------------------------------------------------

    async def _index(self, request: Request) -> Response:
        if (refused := self._refuse(request)) is not None:
            return refused
        signed = await self._signed_in(request)
        if signed is None:
            return self._to_login(request, self.path)
        approver, csrf = signed
        store = await self._store()
        page = _page(request.query_params.get("page"))
        # Requests being answered in a client (form, relay) are that client's to decide. One more than a page is
        # read, to know whether another page follows.
        pending = await store.list_approvals(
            states=["pending"], limit=PENDING_SHOWN + 1, offset=(page - 1) * PENDING_SHOWN, channels=DECIDED_HERE
        )
        decided = await store.list_approvals(states=["approved", "denied", "used", "expired"], limit=30)
        shown = pending[:PENDING_SHOWN]
        origins = {a.id: _origin(a, store) for a in shown}
        needs = frozenset(a.id for a in shown if self.passkeys.needs_for(a))
        before = {a.id: await store.earlier_on(a) for a in shown}
        return _html(
            pages.index(
                shown,
                decided,
                store.now(),
                approver=approver,
                csrf=csrf,
                base=self.path,
                zone=self.zone,
                origins=origins,
                page_number=page,
                more=len(pending) > PENDING_SHOWN,
                needs_passkey=needs,
                before=before,
                titles=self.titles,
            )
        )

    async def _detail(self, request: Request) -> Response:
        if (refused := self._refuse(request)) is not None:
            return refused
        approval_id = request.path_params["approval_id"]
        store = await self._store()
        token = request.cookies.get(SESSION_COOKIE, "")
        session, approval, before = await store.console_view(_key(token), approval_id) if token else (None, None, None)
        signed = self._approver_of(session, token)
        if signed is None:
            return self._to_login(request, f"{self.path}/{quote(approval_id, safe='')}")
        approver, csrf = signed
        if approval is None:
            return _html(pages.message("Not found", "There is no approval request with this id.", base=self.path), 404)
        notice, kind = _after_decision(request.query_params.get("done", ""), approval, self.zone)
        needs = self.passkeys.needs_for(approval)
        ask = None
        if needs and approval.state_at(store.now()) == "pending" and approval.channel in DECIDED_HERE:
            ask = await self._passkey_ask(store, _key(token), approver, approval)
        page = pages.detail(
            approval,
            store.now(),
            approver=approver,
            csrf=csrf,
            base=self.path,
            notice=notice,
            zone=self.zone,
            passkey=ask,
            needs_passkey=needs,
            origin=_origin(approval, store),
            before=before,
            notice_kind=kind,
            titles=self.titles,
        )
        return _html(page)

    async def _passkey_ask(self, store: Store, session_key: str, approver: str, approval: Approval) -> pages.PasskeyAsk:
        """The passkey challenge of this page: a fresh single-use nonce, bound to this session and approval."""
        site = self.site()
        if isinstance(site, str):
            return pages.PasskeyAsk(unable=f"This request needs a passkey to approve, and {site}")
        keys = await store.list_passkeys(approver)
        if not keys:
            return pages.PasskeyAsk(
                unable="This request needs a passkey to approve, and you have none yet: add one on your Passkeys "
                "page (top right), then come back here."
            )
        nonce = await store.create_passkey_nonce(token_hash=session_key, purpose=f"decide:{approval.id}", ttl=NONCE_TTL)
        challenge = decision_challenge(approval.id, approval.digest, "approve", nonce)
        return pages.PasskeyAsk(
            rp_id=site.rp_id,
            challenge=base64.urlsafe_b64encode(challenge).rstrip(b"=").decode(),
            nonce=nonce,
            credentials=tuple(k.credential_id for k in keys),
        )

    async def _decide(self, request: Request) -> Response:
        if (refused := self._refuse(request, post=True)) is not None:
            return refused
        approval_id = request.path_params["approval_id"]
        token = request.cookies.get(SESSION_COOKIE)
        if not token:
            return self._to_login(request, f"{self.path}/{quote(approval_id, safe='')}")
        form = await _form(request, self.body_timeout)
        if isinstance(form, Response):
            return form
        decision = form.get("decision")
        if decision == "approve" and form.get("assertion"):
            return await self._decide_with_passkey(request, approval_id, token, form)
        refusal: list[Response] = []

        def judge(session: ConsoleSession | None, approval: Approval | None) -> bool | None:
            """Whether this form decides the request (approve or deny), read in the decision's transaction;
            None, with the answer saying why, when it does not."""
            said = self._refusal(request, approval_id, self._approver_of(session, token), form, approval)
            if said is None and decision == "approve" and approval is not None and self.passkeys.needs_for(approval):
                said = _html(pages.message("Refused", PASSKEY_NEEDED, base=self.path), 403)
            if said is not None:
                refusal.append(said)
                return None
            return decision == "approve"

        store = await self._store()
        try:
            await store.decide_in_console(
                _key(token), approval_id, judge, redeem_window=self.redeem_window, reason=reason_of(form)
            )
        except NotPending as exc:
            text = f"This request is {exc.state}: it can no longer be decided."
            return _html(pages.message("Already decided", text, base=self.path), 409)
        except OwnRequest:
            return _html(pages.message("Refused", OWN_REQUEST, base=self.path), 403)
        if refusal:
            return refusal[0]
        done = "approved" if decision == "approve" else "denied"
        return _redirect(f"{self.path}/{quote(approval_id, safe='')}?done={done}")

    async def _decide_with_passkey(self, request: Request, approval_id: str, token: str, form: FormData) -> Response:
        """Approve with a passkey's assertion, checked in the decision's transaction: this page's nonce (used up
        whatever comes of it), the session's approver's passkey not removed, the challenge of this approval's
        facts, this console's origin and RP ID, user verification, and a count that moved on."""
        site = self.site()
        if isinstance(site, str):
            return _html(
                pages.message("Passkeys unavailable", f"Passkeys cannot be used here: {site}", base=self.path), 409
            )
        assertion, nonce = str(form.get("assertion", "")), str(form.get("nonce", ""))
        refusal: list[Response] = []

        def judge(
            session: ConsoleSession | None, approval: Approval | None, passkey: Passkey | None, fresh: bool
        ) -> Proven | None:
            signed = self._approver_of(session, token)
            said = self._refusal(request, approval_id, signed, form, approval)
            if said is None and not fresh:
                said = _html(pages.message("Refused", STALE_PASSKEY_PAGE, base=self.path), 403)
            if said is not None or signed is None or approval is None:
                refusal.append(said or _html(pages.message("Refused", STALE_PASSKEY_PAGE, base=self.path), 403))
                return None
            try:
                return verify_decision(
                    assertion,
                    site=site,
                    approval=approval,
                    decision="approve",
                    nonce=nonce,
                    passkey=passkey,
                    approver=signed[0],
                )
            except PasskeyRefused as exc:
                refusal.append(_html(pages.message("Refused", f"Not approved: {exc}", base=self.path), 403))
                return None

        store = await self._store()
        try:
            await store.decide_with_passkey(
                _key(token),
                approval_id,
                credential_id=assertion_id(assertion),
                nonce=nonce,
                judge=judge,
                redeem_window=self.redeem_window,
            )
        except NotPending as exc:
            text = f"This request is {exc.state}: it can no longer be decided."
            return _html(pages.message("Already decided", text, base=self.path), 409)
        except OwnRequest:
            return _html(pages.message("Refused", OWN_REQUEST, base=self.path), 403)
        except PasskeyChanged:
            return _html(pages.message("Refused", STALE_PASSKEY_PAGE, base=self.path), 409)
        if refusal:
            return refusal[0]
        return _redirect(f"{self.path}/{quote(approval_id, safe='')}?done=approved")

    # Passkeys ----------------------------------------------------------------------------------------

    async def _script(self, request: Request) -> Response:
        if (refused := self._refuse(request)) is not None:
            return refused
        return Response(PASSKEY_JS, media_type="text/javascript", headers=HEADERS)

    async def _passkeys_page(
        self, request: Request, *, error: str | None = None, status: int = 200, notice: str | None = None
    ) -> Response:
        if (refused := self._refuse(request)) is not None:
            return refused
        signed = await self._signed_in(request)
        if signed is None:
            return self._to_login(request, f"{self.path}/passkeys")
        approver, csrf = signed
        store = await self._store()
        keys = await store.list_passkeys(approver)
        site = self.site()
        options, nonce, unable = None, "", None
        if isinstance(site, str):
            unable = f"Passkeys cannot be added here: {site}"
        elif (closed := _enrolment_closed(approver, await store.passkeys_since_reset(approver))) is not None:
            unable = closed
        else:
            session_key = _key(request.cookies[SESSION_COOKIE])
            nonce = await store.create_passkey_nonce(token_hash=session_key, purpose="enrol", ttl=NONCE_TTL)
            options = registration_options(site, approver, nonce, keys)
        if notice is None:
            notice = {"added": "Your passkey was added.", "removed": "The passkey was removed."}.get(
                request.query_params.get("done", "")
            )
        page = pages.passkeys(
            keys,
            approver=approver,
            csrf=csrf,
            base=self.path,
            zone=self.zone,
            options=options,
            nonce=nonce,
            unable=unable,
            error=error,
            notice=notice,
        )
        return _html(page, status)

    async def posted_form(self, request: Request, page: str) -> tuple[tuple[str, str], FormData] | Response:
        """The signed-in approver (name, CSRF token) and the form they posted from their `page` (under the
        console), or the answer refusing it: origin, sign-in, the body in time, the CSRF token."""
        if (refused := self._refuse(request, post=True)) is not None:
            return refused
        signed = await self._signed_in(request)
        if signed is None:
            return self._to_login(request, f"{self.path}/{page}")
        form = await _form(request, self.body_timeout)
        if isinstance(form, Response):
            return form
        if not hmac.compare_digest(str(form.get("csrf", "")).encode(), signed[1].encode()):
            return _html(pages.message("Refused", OUT_OF_DATE, base=self.path), 403)
        return signed, form

    async def _passkey_form(self, request: Request) -> tuple[str, FormData] | Response:
        """The signed-in approver and their posted passkey form, or the answer refusing it."""
        posted = await self.posted_form(request, "passkeys")
        return posted if isinstance(posted, Response) else (posted[0][0], posted[1])

    async def _add_passkey(self, request: Request) -> Response:
        posted = await self._passkey_form(request)
        if isinstance(posted, Response):
            return posted
        approver, form = posted
        site = self.site()
        if isinstance(site, str):
            return await self._passkeys_page(request, status=409)
        store = await self._store()
        if (closed := _enrolment_closed(approver, await store.passkeys_since_reset(approver))) is not None:
            return await self._passkeys_page(request, error=closed, status=403)
        nonce = str(form.get("nonce", ""))
        if not await store.take_passkey_nonce(nonce, token_hash=_key(request.cookies[SESSION_COOKIE]), purpose="enrol"):
            return await self._passkeys_page(request, error=STALE_PASSKEY_PAGE, status=403)
        name = " ".join(str(form.get("name", "")).split())[:PASSKEY_NAME_LIMIT] or "Passkey"
        try:
            passkey = verify_enrolment(
                str(form.get("credential", "")), site=site, approver=approver, nonce=nonce, name=name, now=store.now()
            )
        except PasskeyRefused as exc:
            return await self._passkeys_page(request, error=f"No passkey was added: {exc}", status=400)
        entry = {
            "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "event": "passkey_added",
            "approver": approver,
            "credential": passkey.credential_id[:12],
            "name": passkey.name,
        }
        added = await store.enrol_passkey(passkey, audit=entry)
        if added == "registered":
            return await self._passkeys_page(request, error="That passkey is registered already.", status=409)
        if added != "added":  # another passkey was added since the check above
            said = HAS_PASSKEY if added == "has_one" else HAD_PASSKEY
            return await self._passkeys_page(request, error=said.format(name=shlex.quote(approver)), status=403)
        log.warning(
            "passkey %r added for approver %r (credential %s…), recorded in the audit chain",
            passkey.name,
            approver,
            passkey.credential_id[:12],
        )
        return _redirect(f"{self.path}/passkeys?done=added")

    async def _remove_passkey(self, request: Request) -> Response:
        posted = await self._passkey_form(request)
        if isinstance(posted, Response):
            return posted
        approver, form = posted
        store = await self._store()
        if not await store.remove_passkey(str(form.get("credential_id", "")), approver=approver):
            return await self._passkeys_page(request, error="You have no such passkey.", status=404)
        return _redirect(f"{self.path}/passkeys?done=removed")

    def _refusal(
        self,
        request: Request,
        approval_id: str,
        signed: tuple[str, str] | None,
        form: Any,
        approval: Approval | None,
    ) -> Response | None:
        """Why this decision form is not applied, as the answer to it; None when it is."""
        if signed is None:
            return self._to_login(request, f"{self.path}/{quote(approval_id, safe='')}")
        if not hmac.compare_digest(str(form.get("csrf", "")).encode(), signed[1].encode()):
            return _html(
                pages.message("Refused", OUT_OF_DATE, base=self.path),
                403,
            )
        if form.get("decision") not in ("approve", "deny"):
            return _html(pages.message("Refused", "Choose Approve or Deny.", base=self.path), 400)
        if approval is None:
            return _html(pages.message("Not found", "There is no approval request with this id.", base=self.path), 404)
        if approval.channel not in DECIDED_HERE:
            return _html(
                pages.message(
                    "Decided elsewhere",
                    "This request is being answered in the client that asked for it, not here.",
                    base=self.path,
                ),
                409,
            )
        return None

    # Signing in -------------------------------------------------------------------------------------

    async def _login_form(self, request: Request, error: str | None = None, status: int = 200) -> Response:
        if (refused := self._refuse(request)) is not None:
            return refused
        if not self._approvers and self.oidc is None:
            return _html(pages.message("The console is not set up", NOT_CONFIGURED, base=self.path), 503)
        nonce = request.cookies.get(LOGIN_COOKIE) or secrets.token_urlsafe(24)
        next_path = _local(request.query_params.get("next"), self.path)
        provider = f"{self.path}/oidc/start?next={quote(next_path, safe='/')}" if self.oidc is not None else None
        said = pages.login(csrf=nonce, base=self.path, next_path=next_path, error=error, names=False, provider=provider)
        response = _html(said, status)
        self._cookie(response, request, LOGIN_COOKIE, nonce, max_age=3600)
        return response

    async def _login(self, request: Request) -> Response:
        if (refused := self._refuse(request, post=True)) is not None:
            return refused
        nonce = request.cookies.get(LOGIN_COOKIE, "")
        if not nonce:  # before anything is read: a form that was never served here is not parsed at all
            return await self._login_form(request, "The sign-in form was out of date: try again.", 403)
        form = await _form(request, self.body_timeout)
        if isinstance(form, Response):
            return form
        if not hmac.compare_digest(str(form.get("csrf", "")).encode(), nonce.encode()):
            return await self._login_form(request, "The sign-in form was out of date: try again.", 403)
        # Every sign-in waits, the right secret too and before it is compared: the answer's time says nothing.
        await anyio.sleep(self.slow_down.delay())
        approver = self._approver_for(str(form.get("secret", "")))
        if approver is None:
            self.slow_down.failed()
            return await self._login_form(request, "That is not an approver secret of this server.", 401)
        return await self.open_session(request, approver, str(form.get("next", "")))

    async def open_session(self, request: Request, approver: str, next_path: str) -> Response:
        """Sign `approver` in (by their secret, or through the identity provider): a new console session, its
        cookie, and the way on to `next_path`."""
        token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(24)
        store = await self._store()
        await store.create_console_session(token_hash=_hash(token), approver=approver, csrf=csrf, ttl=SESSION_TTL)
        response = _redirect(_local(next_path, self.path))
        bound = f"{token}.{_binding(self._binding_secret(approver) or '', token)}"
        self._cookie(response, request, SESSION_COOKIE, bound, max_age=int(SESSION_TTL))
        response.delete_cookie(LOGIN_COOKIE, path=self.path)
        return response

    async def sign_in_failed(self, request: Request, error: str) -> Response:
        return await self._login_form(request, error, 401)

    def refuse(self, request: Request) -> Response | None:
        return self._refuse(request)

    def _binding_secret(self, approver: str) -> str | None:
        """The secret a session of this approver is bound to: theirs, else the provider sign-in's for them."""
        if approver in self._approvers:
            return self._approvers[approver]
        return self.oidc.binding_secret(approver) if self.oidc is not None else None

    async def _logout(self, request: Request) -> Response:
        if (refused := self._refuse(request, post=True)) is not None:
            return refused
        signed = await self._signed_in(request)
        form = await _form(request, self.body_timeout) if signed is not None else FormData()
        if isinstance(form, Response):
            return form
        if signed is not None and hmac.compare_digest(str(form.get("csrf", "")).encode(), signed[1].encode()):
            await (await self._store()).delete_console_session(_key(request.cookies[SESSION_COOKIE]))
        response = _redirect(f"{self.path}/login")
        response.delete_cookie(SESSION_COOKIE, path=self.path)
        return response

    def _approver_for(self, secret: str) -> str | None:
        """The approver whose secret this is. Every secret is compared, in constant time."""
        found = None
        given = secret.strip().encode()
        for name, expected in self._approvers.items():
            if hmac.compare_digest(given, expected.encode()) and found is None:
                found = name
        return found

    async def _signed_in(self, request: Request) -> tuple[str, str] | None:
        token = request.cookies.get(SESSION_COOKIE)
        if not token or (not self._approvers and self.oidc is None):
            return None
        return self._approver_of(await (await self._store()).get_console_session(_key(token)), token)

    def _approver_of(self, session: ConsoleSession | None, cookie: str) -> tuple[str, str] | None:
        """(approver, csrf) of a console session that is signed in, by an approver this server still has, with
        the secret it still has: a session made with a secret since rotated signs nobody in."""
        secret = self._binding_secret(session.approver) if session is not None else None
        if session is None or secret is None:
            return None
        token, _, bound = cookie.rpartition(".")
        expected = _binding(secret, token)
        if not token or not hmac.compare_digest(bound.encode(), expected.encode()):
            return None
        return session.approver, session.csrf

    def _to_login(self, request: Request, next_path: str) -> Response:
        return _redirect(f"{self.path}/login?next={quote(next_path, safe='/')}")

    def _cookie(self, response: Response, request: Request, name: str, value: str, *, max_age: int) -> None:
        secure = request.url.scheme == "https" or (self.base_url or "").startswith("https://")
        response.set_cookie(
            name, value, max_age=max_age, path=self.path, httponly=True, samesite="strict", secure=secure
        )

    def _refuse(self, request: Request, *, post: bool = False) -> Response | None:
        """Host checks against DNS rebinding; POSTs only from this console's own origin."""
        host = request.headers.get("host", "")
        if not _host_allowed(host, self.allowed_hosts):
            return Response("Invalid Host header", status_code=421, headers=HEADERS)
        if post:
            origin = request.headers.get("origin")
            if origin is not None and origin != "null" and urlsplit(origin).netloc != host:
                return Response("Cross-origin form refused", status_code=403, headers=HEADERS)
            if origin == "null":
                return Response("Cross-origin form refused", status_code=403, headers=HEADERS)
        return None


async def _form(request: Request, timeout: float) -> FormData | Response:
    """The posted form, read up to FORM_LIMIT bytes (413 past it, whatever the body claims) within `timeout`
    seconds (408 after, the connection closed) and only as application/x-www-form-urlencoded, the one
    encoding the console's pages post (415 otherwise).

    The head timeout ends once the head is complete: without this deadline a sign-in form (whose cookie
    anybody gets) whose body never arrives would hold its connection for ever, and enough of them every
    descriptor of the server."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        return Response("The console takes only its own forms", status_code=415, headers=HEADERS)
    body = bytearray()
    with anyio.move_on_after(timeout) as deadline:
        async for chunk in request.stream():
            body += chunk
            if len(body) > FORM_LIMIT:
                return Response("Form too large", status_code=413, headers=HEADERS)
    if deadline.cancelled_caught:
        return Response("The form did not arrive in time", status_code=408, headers={**HEADERS, "Connection": "close"})
    fields: list[tuple[str, str | UploadFile]] = [*parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)]
    return FormData(fields)


def _page(given: str | None) -> int:
    """The page of waiting requests asked for: 1 unless a plain number (at most 10 digits) says another."""
    return max(1, int(given)) if given and given.isascii() and given.isdigit() and len(given) <= 10 else 1


def _origin(approval: Approval, store: Store) -> pages.Origin:
    """Which run of the server asked for this request: this one, one started before it (or before runs were
    recorded), or another running beside it (another client's server on the same store, a replica)."""
    if approval.boot == store.boot:
        return "this"
    if approval.boot is None or approval.created_at < store.started_at:
        return "earlier"
    return "other"


def _split(host: str) -> tuple[str, str | None]:
    """("example.com", "8000") from "example.com:8000"; IPv6 in brackets; no port → None."""
    if host.startswith("["):
        name, _, rest = host[1:].partition("]")
        return name.lower(), rest[1:] if rest.startswith(":") else None
    name, sep, port = host.rpartition(":")
    return (name.lower(), port) if sep else (host.lower(), None)


def _host_allowed(host: str, allowed: list[str]) -> bool:
    """`name:port`, `name:*` (any port, or none) or a bare `name` (no port)."""
    name, port = _split(host)
    for pattern in allowed:
        want, want_port = _split(pattern)
        if want == name and (want_port == "*" or want_port == port):
            return True
    return False


def _local(path: str | None, default: str) -> str:
    """A redirect target inside the console only: never another site."""
    if path and path.startswith(default) and not path.startswith("//") and "\\" not in path and "\n" not in path:
        return path
    return default


def _html(text: str, status: int = 200) -> HTMLResponse:
    # Every page may run the console's one script (a signed-in page shows times in the viewer's zone with it).
    return HTMLResponse(text, status_code=status, headers=SCRIPT_HEADERS)


def _redirect(location: str) -> Response:
    return RedirectResponse(location, status_code=303, headers=HEADERS)


def console_routes(console: Console) -> list[BaseRoute]:
    return [Route(path, endpoint, methods=methods) for path, methods, endpoint in console.routes()]


def console_app(console: Console) -> Any:
    """The console alone as an ASGI app: what the stdio mode's loopback listener serves."""
    from starlette.applications import Starlette

    return Starlette(routes=console_routes(console))
