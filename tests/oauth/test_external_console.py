"""Approvers signing in to the console through a real OpenID provider (--oauth-console): who gets in, who not."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx2
import pytest

from polar_orders_mcp.approvals.console import console_app
from polar_orders_mcp.server.app import ServerParts
from tests.oauth.real_idp import CONSOLE_REDIRECT, SECRET, RealIdp
from tests.tools.conftest import emulator, make_parts

__all__ = ["emulator", "make_parts"]

pytestmark = pytest.mark.anyio

ORIGIN = "http://127.0.0.1:8765"  # the console's address in the tests (make_parts), as the provider knows its callback


@pytest.fixture(scope="module")
def idp() -> Iterator[RealIdp]:
    started = RealIdp()
    yield started
    started.stop()


@pytest.fixture
def parts(idp: RealIdp, make_parts: Callable[..., ServerParts]) -> ServerParts:
    return make_parts(
        transport="http",
        oauth_issuer=idp.issuer,
        oauth_client_id="polar-mcp",
        oauth_client_secret=SECRET,
        oauth_console=True,
        roles="ada=approve,bob=use",
    )


def console(parts: ServerParts, **options: Any) -> httpx2.AsyncClient:
    transport = httpx2.ASGITransport(app=console_app(parts.console))
    return httpx2.AsyncClient(transport=transport, base_url=ORIGIN, follow_redirects=False, **options)


async def through_provider(http: httpx2.AsyncClient, idp: RealIdp, person: str, **change: str) -> httpx2.Response:
    """Start at the console's link, sign in at the provider as `person`, and bring its answer back."""
    login = await http.get("/approvals/login")
    assert 'href="/approvals/oidc/start?next=/approvals"' in login.text
    sent = await http.get("/approvals/oidc/start?next=/approvals")
    assert sent.status_code == 303 and sent.headers["location"].startswith(f"{idp.issuer}/auth?"), sent.headers
    with httpx2.Client(timeout=10) as browser:
        answer = browser.get(sent.headers["location"] + f"&login_hint={person}")
        while not answer.headers.get("location", "").startswith(CONSOLE_REDIRECT):
            assert answer.is_redirect, answer.text[-1200:]
            answer = browser.get(answer.url.join(answer.headers["location"]))
    back = httpx2.URL(answer.headers["location"])
    params = dict(back.params) | change
    return await http.get("/approvals/oidc/callback", params=params)


async def test_an_approver_signs_in_through_the_provider(parts: ServerParts, idp: RealIdp) -> None:
    async with console(parts) as http:
        signed = await through_provider(http, idp, "ada")
        assert signed.status_code == 303 and signed.headers["location"] == "/approvals"
        assert "pom_console" in http.cookies and "pom_oidc" not in http.cookies
        page = await http.get("/approvals")
        assert page.status_code == 200 and "Signed in as <strong>ada</strong>" in page.text


async def test_a_person_who_may_not_approve_is_not_signed_in(parts: ServerParts, idp: RealIdp) -> None:
    async with console(parts) as http:
        refused = await through_provider(http, idp, "bob")
        assert refused.status_code == 401
        assert "Not signed in: bob is not an approver of this server" in refused.text
        assert "pom_console" not in http.cookies


async def test_an_answer_for_another_sign_in_is_refused(parts: ServerParts, idp: RealIdp) -> None:
    async with console(parts) as http:
        refused = await through_provider(http, idp, "ada", state="someone-elses-state")
        assert refused.status_code == 401 and "is not for this sign-in (state)" in refused.text
        assert "pom_console" not in http.cookies


async def test_an_answer_without_the_sign_ins_cookie_is_refused(parts: ServerParts, idp: RealIdp) -> None:
    async with console(parts) as http:
        sent = await http.get("/approvals/oidc/start")
        http.cookies.clear()
        refused = await http.get("/approvals/oidc/callback", params={"code": "x", "state": "y"})
        assert sent.status_code == 303 and refused.status_code == 401
        assert "this sign-in was not started here" in refused.text


async def test_an_id_token_without_the_name_claim_signs_nobody_in(monkeypatch: pytest.MonkeyPatch) -> None:
    """The console names an approver by the name claim only, as the tokens that call tools name who asked: with an
    email fallback here alone, "ada@example.test" approved what "ada" asked (or the other way round)."""
    from types import SimpleNamespace

    from polar_orders_mcp.approvals.oidc import OidcSignIn, Refused
    from polar_orders_mcp.oauth.provider import Provider

    sign_in = OidcSignIn(
        Provider("https://login.example.com"),
        client_id="polar-mcp",
        client_secret=SECRET,
        algorithms=["RS256"],
        name_claim="preferred_username",
        approvers=["ada", "ada@example.test"],
    )

    async def answer(*_: Any, **__: Any) -> Any:
        return {"id_token": "checked below"}

    async def claims(*_: Any) -> dict[str, Any]:
        return {"sub": "sub-ada", "email": "ada@example.test"}

    monkeypatch.setattr(sign_in.provider, "endpoint", answer)
    monkeypatch.setattr(sign_in.provider, "post_form", answer)
    monkeypatch.setattr(sign_in, "_id_token", claims)
    monkeypatch.setattr(sign_in, "_redirect_uri", lambda *_: f"{ORIGIN}/approvals/oidc/callback")
    request = SimpleNamespace(query_params={"code": "c"})
    with pytest.raises(Refused, match="the identity provider named nobody \\(no preferred_username claim\\)"):
        await sign_in._approver(None, request, {"verifier": "v", "nonce": "n"})  # type: ignore[arg-type]
