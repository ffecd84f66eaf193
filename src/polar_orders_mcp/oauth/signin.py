"""Where a person signs in and lets a client act for them: the authorization server's sign-in and consent pages.

The people are the approval console's (POLAR_MCP_APPROVERS), and only those with the role `use` may sign in
here. Signing in binds the pending request to that person and to this browser (a cookie whose hash the store
keeps); the consent form carries a CSRF token of that request. Every page is served no-store and unframeable.
A decision sends the browser back only to the redirect URI the request was checked against, which the client
registered exactly; anything wrong before that shows a page here, never a redirect.
"""

from __future__ import annotations

import hmac
import re
import secrets
from typing import TYPE_CHECKING
from urllib.parse import quote, urlsplit

import anyio
from mcp.server.auth.provider import construct_redirect_uri
from mcp.shared.auth import InvalidRedirectUriError
from pydantic import AnyUrl, ValidationError
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

# The console's form reader (a size cap, a deadline, one encoding) and its page headers, shared, not copied.
from polar_orders_mcp.approvals.console import BODY_TIMEOUT, HEADERS, _form
from polar_orders_mcp.approvals.slowdown import SlowDown
from polar_orders_mcp.oauth import pages
from polar_orders_mcp.oauth.documents import DocumentRefused, is_document_id
from polar_orders_mcp.store.oauth import CodeGrant, PendingRequest, digest

if TYPE_CHECKING:
    from polar_orders_mcp.oauth.embedded import Embedded

SESSION_COOKIE = "pom_oauth"
LOGIN_COOKIE = "pom_oauth_login"
COOKIE_PATH = "/oauth"
COOKIE_AGE = 600
CODE_TTL = 60.0
"""Seconds an authorization code may wait for the client to exchange it."""
PAGE_HEADERS = dict(HEADERS)
"""no-store, `frame-ancestors 'none'`, `X-Frame-Options: DENY`, nosniff, forms to this origin only."""
STALE = "This sign-in link is out of date or was used already: go back to the client and connect again."
NOT_PEOPLE = "That is not the secret of anyone on this server."
NOT_USER = (
    "{person} may approve in the approval console but may not connect clients: ask the operator to give {person} "
    "the role use (POLAR_MCP_ROLES={person}=use+approve)."
)


def _form_action(redirect_uri: str) -> str:
    """The consent page's CSP: its form may lead to the client's redirect URI (Chromium applies form-action to
    the redirect that follows the post), and nowhere else."""
    parts = urlsplit(redirect_uri)
    if parts.scheme in ("http", "https") and re.fullmatch(r"[A-Za-z0-9.\-:\[\]]+", parts.netloc):
        target = f"{parts.scheme}://{parts.netloc}"
    elif re.fullmatch(r"[a-z][a-z0-9+.\-]*", parts.scheme):
        target = f"{parts.scheme}:"
    else:
        target = ""
    return (
        f"default-src 'none'; style-src 'unsafe-inline'; form-action 'self' {target}; frame-ancestors 'none'; "
        "base-uri 'none'"
    )


def _html(body: str, status: int = 200, headers: dict[str, str] | None = None) -> HTMLResponse:
    return HTMLResponse(body, status, headers=headers or PAGE_HEADERS)


def _cross_origin(request: Request) -> bool:
    """A POST that did not come from this server's own page (browsers send Origin with every form POST)."""
    origin = request.headers.get("origin")
    return origin is None or origin == "null" or urlsplit(origin).netloc != request.headers.get("host", "")


class SignIn:
    """The sign-in and consent pages, under /oauth."""

    def __init__(self, embedded: Embedded, *, provider_issuer: str, slow_down: SlowDown | None = None) -> None:
        self._e = embedded
        self._issuer = provider_issuer
        self.slow_down = slow_down or SlowDown()

    def routes(self) -> list[Route]:
        return [
            Route("/oauth/sign-in", self._sign_in_form, methods=["GET"]),
            Route("/oauth/sign-in", self._sign_in, methods=["POST"]),
            Route("/oauth/consent", self._consent_form, methods=["GET"]),
            Route("/oauth/consent", self._consent, methods=["POST"]),
        ]

    def _secure(self, request: Request) -> bool:
        return request.url.scheme == "https" or self._e.settings.base_url().startswith("https://")

    def _cookie(self, response: Response, request: Request, name: str, value: str) -> None:
        response.set_cookie(
            name,
            value,
            max_age=COOKIE_AGE,
            path=COOKIE_PATH,
            httponly=True,
            samesite="strict",
            secure=self._secure(request),
        )

    async def _label(self, client_id: str) -> pages.ClientLabel:
        client = await self._e.client(client_id)
        if is_document_id(client_id):
            parts = urlsplit(client_id)
            host = parts.hostname or "" if parts.port is None else f"{parts.hostname}:{parts.port}"
            return pages.ClientLabel(host, client.client_name, client_id, registered=False)
        return pages.ClientLabel(None, client.client_name, client_id, registered=True)

    async def _sign_in_page(
        self, request: Request, pending: PendingRequest, error: str | None = None, status: int = 200
    ) -> Response:
        try:
            label = await self._label(pending.client_id)
        except (DocumentRefused, LookupError) as exc:
            return _html(pages.problem("This client cannot connect", str(exc)), 400)
        nonce = secrets.token_urlsafe(24)
        response = _html(pages.sign_in(request_id=pending.id, csrf=nonce, client=label, error=error), status)
        self._cookie(response, request, LOGIN_COOKIE, nonce)
        return response

    async def _sign_in_form(self, request: Request) -> Response:
        pending = await (await self._e.oauth()).get_request(request.query_params.get("request", ""))
        if pending is None:
            return _html(pages.problem("Sign-in link out of date", STALE), 400)
        return await self._sign_in_page(request, pending)

    async def _sign_in(self, request: Request) -> Response:
        if _cross_origin(request):
            return _html(pages.problem("Refused", "A sign-in from another site's page is refused."), 403)
        form = await _form(request, BODY_TIMEOUT)
        if isinstance(form, Response):
            return form
        oauth = await self._e.oauth()
        pending = await oauth.get_request(str(form.get("request", "")))
        if pending is None:
            return _html(pages.problem("Sign-in link out of date", STALE), 400)
        nonce = request.cookies.get(LOGIN_COOKIE, "")
        if not nonce or not hmac.compare_digest(str(form.get("csrf", "")).encode(), nonce.encode()):
            return await self._sign_in_page(request, pending, "The sign-in form was out of date: try again.", 403)
        # Every sign-in waits, the right secret too and before it is compared (see SlowDown).
        await anyio.sleep(self.slow_down.delay())
        person = self._person_for(str(form.get("secret", "")))
        if person is None:
            self.slow_down.failed()
            return await self._sign_in_page(request, pending, NOT_PEOPLE, 401)
        if not self._e.may_use(person):
            return await self._sign_in_page(request, pending, NOT_USER.format(person=person), 403)
        browser, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(24)
        if not await oauth.sign_in(pending.id, person=person, browser_hash=digest(browser), csrf=csrf):
            return _html(pages.problem("Sign-in link out of date", STALE), 400)
        response = RedirectResponse(f"/oauth/consent?request={quote(pending.id)}", 303, headers=PAGE_HEADERS)
        self._cookie(response, request, SESSION_COOKIE, browser)
        response.delete_cookie(LOGIN_COOKIE, path=COOKIE_PATH)
        return response

    def _person_for(self, secret: str) -> str | None:
        """The person whose secret this is. Every secret is compared, in constant time."""
        found, given = None, secret.strip().encode()
        for name, expected in self._e.settings.approver_secrets().items():
            if hmac.compare_digest(given, expected.encode()) and found is None:
                found = name
        return found

    async def _signed_in(self, request: Request, request_id: str) -> PendingRequest | Response:
        """The pending request this browser signed in for, or the page saying why there is none."""
        pending = await (await self._e.oauth()).get_request(request_id)
        if pending is None:
            return _html(pages.problem("Request out of date", STALE), 400)
        cookie = request.cookies.get(SESSION_COOKIE, "")
        if not cookie or pending.browser_hash is None or not hmac.compare_digest(digest(cookie), pending.browser_hash):
            return await self._sign_in_page(request, pending, "Sign in first, in this browser.", 401)
        if pending.person is None or not self._e.may_use(pending.person):
            return _html(pages.problem("Not allowed", "The person signed in may no longer connect clients."), 403)
        return pending

    async def _consent_form(self, request: Request) -> Response:
        pending = await self._signed_in(request, request.query_params.get("request", ""))
        if isinstance(pending, Response):
            return pending
        try:
            label = await self._label(pending.client_id)
        except (DocumentRefused, LookupError) as exc:
            return _html(pages.problem("This client cannot connect", str(exc)), 400)
        params = pending.params
        body = pages.consent(
            request_id=pending.id,
            csrf=pending.csrf or "",
            client=label,
            person=pending.person or "",
            redirect_uri=params["redirect_uri"],
            scopes=list(params["scopes"]),
        )
        return _html(body, headers={**PAGE_HEADERS, "Content-Security-Policy": _form_action(params["redirect_uri"])})

    async def _consent(self, request: Request) -> Response:
        if _cross_origin(request):
            return _html(pages.problem("Refused", "A decision from another site's page is refused."), 403)
        form = await _form(request, BODY_TIMEOUT)
        if isinstance(form, Response):
            return form
        pending = await self._signed_in(request, str(form.get("request", "")))
        if isinstance(pending, Response):
            return pending
        if not hmac.compare_digest(str(form.get("csrf", "")).encode(), (pending.csrf or "").encode()):
            return _html(
                pages.problem("Form out of date", "The consent form was out of date: reload it and decide again."), 403
            )
        taken = await (await self._e.oauth()).take_request(
            pending.id, browser_hash=digest(request.cookies[SESSION_COOKIE])
        )
        if taken is None:
            return _html(pages.problem("Decided already", STALE), 400)
        return await self._decide(request, taken, allow=form.get("decision") == "allow")

    async def _decide(self, request: Request, taken: PendingRequest, *, allow: bool) -> Response:
        params = taken.params
        try:  # checked at /authorize; checked again against what the client says now (a document may change)
            client = await self._e.client(taken.client_id)
            redirect_uri = str(client.validate_redirect_uri(AnyUrl(params["redirect_uri"])))
        except (DocumentRefused, LookupError, InvalidRedirectUriError, ValidationError) as exc:
            text = exc.message if isinstance(exc, InvalidRedirectUriError) else str(exc)
            return _html(pages.problem("This client cannot connect", text), 400)
        if allow:
            oauth = await self._e.oauth()
            grant = CodeGrant(
                taken.client_id,
                taken.person or "",
                tuple(params["scopes"]),
                params["challenge"],
                params["redirect_uri"],
                bool(params["explicit"]),
                params["resource"],
                oauth.now() + CODE_TTL,
                used=False,
            )
            answer = {"code": await oauth.create_code(grant)}
        else:
            answer = {"error": "access_denied", "error_description": "The person declined."}
        target = construct_redirect_uri(redirect_uri, **answer, state=params["state"], iss=self._issuer)
        response = RedirectResponse(target, 303, headers=PAGE_HEADERS)
        response.delete_cookie(SESSION_COOKIE, path=COOKIE_PATH)
        return response
