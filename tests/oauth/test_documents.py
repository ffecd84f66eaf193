"""Client ID Metadata Documents fetched from a real server on loopback: what is accepted, and each refusal."""

from __future__ import annotations

import json
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from polar_orders_mcp.oauth import documents
from polar_orders_mcp.oauth.documents import DocumentFetcher, DocumentRefused
from polar_orders_mcp.store.sql import SqlStore
from tests.oauth.conftest import REDIRECT, Authority, make_settings, pkce, serve

pytestmark = pytest.mark.anyio


class Site:
    """A client's web site on loopback, serving its metadata document (and worse ones)."""

    def __init__(self) -> None:
        self.base = ""
        self.hits = 0

    def doc(self, path: str, **changes: Any) -> dict[str, Any]:
        body = {
            "client_id": f"{self.base}{path}",
            "client_name": "Support desk",
            "redirect_uris": [REDIRECT],
            "token_endpoint_auth_method": "none",
        }
        return {k: v for k, v in {**body, **changes}.items() if v is not None}

    async def serve(self, request: Request) -> Response:
        self.hits += 1
        path = request.url.path
        if path == "/client.json":
            return JSONResponse(self.doc(path), headers={"Cache-Control": "max-age=600"})
        if path == "/large.json":
            return JSONResponse(self.doc(path, client_name="x" * 6000))
        if path == "/slow.json":
            await anyio.sleep(30)
        if path == "/other.json":
            return JSONResponse(self.doc(path, client_id=f"{self.base}/client.json"))
        if path == "/moved.json":
            return RedirectResponse(f"{self.base}/client.json", 302)
        if path == "/secret.json":
            return JSONResponse(self.doc(path, token_endpoint_auth_method="client_secret_post"))
        if path == "/http-redirect.json":
            return JSONResponse(self.doc(path, redirect_uris=[REDIRECT, "http://desk.example/callback"]))
        if path == "/script-redirect.json":
            return JSONResponse(self.doc(path, redirect_uris=["javascript:alert(document.domain)//"]))
        if path == "/no-redirects.json":
            return JSONResponse(self.doc(path, redirect_uris=None))
        return Response(json.dumps({}), 404)


@pytest.fixture
async def site() -> AsyncIterator[Site]:
    async with running_site() as site:
        yield site


@asynccontextmanager
async def running_site(authority: Authority | None = None) -> AsyncIterator[Site]:
    """The site under uvicorn on loopback: plain HTTP on 127.0.0.1, or HTTPS as localhost with `authority`'s
    certificate."""
    site = Site()
    app = Starlette(routes=[Route("/{name}", site.serve)])
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    site.base = f"https://localhost:{port}" if authority else f"http://127.0.0.1:{port}"
    tls = {"ssl_certfile": str(authority.cert_file), "ssl_keyfile": str(authority.key_file)} if authority else {}
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off", **tls))
    async with anyio.create_task_group() as group:
        group.start_soon(server.serve, [listener])
        while not server.started:
            await anyio.sleep(0.01)
        yield site
        server.should_exit = True
        server.force_exit = True  # a request still sleeping (the slow document) is not waited for


async def refusal(site: Site, path: str, *, private_ok: bool = True) -> str:
    with pytest.raises(DocumentRefused) as refused:
        await DocumentFetcher(private_ok=private_ok).fetch(f"{site.base}{path}")
    return str(refused.value)


async def test_a_document_is_fetched_checked_and_its_max_age_kept(site: Site) -> None:
    document = await DocumentFetcher(private_ok=True).fetch(f"{site.base}/client.json")
    assert document.info["client_name"] == "Support desk" and document.max_age == 600


async def test_a_private_address_is_refused_before_any_connection(site: Site) -> None:
    https = site.base.replace("http://", "https://") + "/client.json"
    with pytest.raises(DocumentRefused) as refused:
        await DocumentFetcher(private_ok=False).fetch(https)
    assert str(refused.value) == (
        "The client's host 127.0.0.1 resolves to a private, loopback or reserved address: its metadata document is "
        "not fetched (the operator may allow that with --oauth-private-metadata)."
    )
    assert site.hits == 0


async def test_localhost_by_name_is_refused_too() -> None:
    with pytest.raises(DocumentRefused, match="The client's host localhost resolves to a private"):
        await DocumentFetcher(private_ok=False).fetch("https://localhost/client.json")


async def test_plain_http_is_refused_unless_private_documents_are_allowed(site: Site) -> None:
    assert await refusal(site, "/client.json", private_ok=False) == (
        f"The client id '{site.base}/client.json' is not an https URL."
    )


async def test_a_document_larger_than_the_limit_is_refused(site: Site) -> None:
    assert await refusal(site, "/large.json") == (
        f"The client's metadata document at {site.base}/large.json is larger than 5120 bytes."
    )


async def test_a_slow_document_is_given_up(site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(documents, "FETCH_TIMEOUT", 1.0)
    assert await refusal(site, "/slow.json") == (
        f"The client's metadata document at {site.base}/slow.json did not arrive within 1 seconds."
    )


async def test_a_document_naming_another_client_id_is_refused(site: Site) -> None:
    assert await refusal(site, "/other.json") == (
        f"The client's metadata document at {site.base}/other.json names another client_id: it must be exactly its "
        "own URL."
    )


async def test_a_redirect_is_not_followed(site: Site) -> None:
    assert await refusal(site, "/moved.json") == (
        f"The client's metadata document at {site.base}/moved.json answered with a redirect (302); redirects are not "
        "followed: serve it at the client id itself."
    )
    assert site.hits == 1


async def test_a_confidential_client_document_is_refused(site: Site) -> None:
    assert await refusal(site, "/secret.json") == (
        f"The client's metadata document at {site.base}/secret.json asks for token_endpoint_auth_method "
        "'client_secret_post': only public clients ('none', with PKCE) are accepted by metadata document."
    )


async def test_a_document_without_redirect_uris_is_refused(site: Site) -> None:
    assert await refusal(site, "/no-redirects.json") == (
        f"The client's metadata document at {site.base}/no-redirects.json has no redirect_uris."
    )


async def test_a_document_client_connects_and_is_cached(site: Site, store: SqlStore) -> None:
    server = await serve(make_settings(oauth_private_metadata=True), store)
    client_id = f"{site.base}/client.json"
    async with server.http:
        _, challenge = pkce()
        started = await server.authorize(client_id, challenge)
        signed = await server.sign_in(started.headers["location"])
        page = await server.http.get(signed.headers["location"])
        assert f"the site <strong>127.0.0.1:{site.base.rsplit(':', 1)[1]}</strong>" in page.text
        assert 'Support desk<span class="tag">self-asserted</span>' in page.text
        tokens = await server.tokens(client_id)
    assert (await server.verifier.verify(tokens["access_token"])).client == f"oauth:{client_id}"  # type: ignore[union-attr]
    assert site.hits == 1


async def test_a_refused_document_gets_a_page_and_no_redirect(site: Site, store: SqlStore) -> None:
    server = await serve(make_settings(), store)
    async with server.http:
        _, challenge = pkce()
        answer = await server.authorize(f"{site.base}/client.json", challenge)
    assert answer.status_code == 400 and "location" not in answer.headers
    assert "is not an https URL." in answer.text and site.hits == 0


async def test_over_https_the_pinned_address_is_still_checked_against_the_certificate(authority: Authority) -> None:
    async with running_site(authority) as site:
        document = await DocumentFetcher(private_ok=True, verify=authority.trust()).fetch(f"{site.base}/client.json")
        assert document.info["client_id"] == f"{site.base}/client.json"
        with pytest.raises(DocumentRefused) as untrusted:
            await DocumentFetcher(private_ok=True).fetch(f"{site.base}/client.json")
    assert str(untrusted.value) == (
        f"The client's metadata document at {site.base}/client.json could not be fetched (ConnectError)."
    )


@pytest.mark.parametrize(
    ("path", "shown"),
    [("/http-redirect.json", "http://desk.example/callback"), ("/script-redirect.json", "javascript:")],
)
async def test_a_document_is_held_to_the_redirect_rules_of_a_registration(
    site: Site, store: SqlStore, path: str, shown: str
) -> None:
    """A registration by DCR may not name plain http off loopback or a script URL; a metadata document neither."""
    server = await serve(make_settings(oauth_private_metadata=True), store)
    async with server.http:
        _, challenge = pkce()
        answer = await server.authorize(f"{site.base}{path}", challenge)
    assert answer.status_code == 400 and "location" not in answer.headers
    assert f"The client&#x27;s metadata document at {site.base}{path} names the redirect URI" in answer.text
    assert shown in answer.text
    assert "use https, http on localhost, or the app&#x27;s own scheme, without a fragment" in answer.text
