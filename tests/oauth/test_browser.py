"""The SDK's own OAuth client against the server with OAuth on, with a person signing in and consenting in a real
headless Chromium; then the same MCP client calls tools with the token, as that person.

The client meets /mcp's 401, reads the RFC 9728 metadata, discovers the embedded authorization server, registers
(DCR), sends the browser to authorize, and exchanges the code.
"""

from __future__ import annotations

import functools
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import anyio
import httpx2
import pytest
from mcp.client import Client
from mcp.client.auth import OAuthClientProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import AuthorizationCodeResult, OAuthClientInformationFull, OAuthClientMetadata, OAuthToken
from pydantic import AnyUrl
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from polar_orders_mcp.emulator.app import create_app
from polar_orders_mcp.oauth import embedded
from polar_orders_mcp.oauth.documents import DocumentFetcher
from polar_orders_mcp.oauth.grants import SCOPES
from polar_orders_mcp.server.app import ServerParts, build_parts
from polar_orders_mcp.server.http import http_app
from tests.approvals.test_console_browser import chromium
from tests.oauth.conftest import ADA, Authority, authority, make_settings
from tests.server.conftest import serve_in_thread

__all__ = ["authority", "chromium"]

pytestmark = pytest.mark.anyio


class Memory:
    """The client's token storage, in memory."""

    def __init__(self) -> None:
        self.tokens: OAuthToken | None = None
        self.client: OAuthClientInformationFull | None = None

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client = client_info


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


BUILT: list[tuple[ServerParts, Any]] = []


@pytest.fixture
def site(tmp_path: Path, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The server with OAuth on (and the client's callback page beside it), on one loopback port that is also
    its public address."""
    import uvicorn

    port = free_port()
    settings = make_settings(
        port=port, state_dir=tmp_path, toolsets=["all"], approval_wait=0, oauth_private_metadata=True
    )  # a metadata document on this machine
    if "authority" in request.fixturenames:  # metadata documents over https, certified by the tests' authority
        trusted = request.getfixturevalue("authority").trust()
        monkeypatch.setattr(embedded, "DocumentFetcher", functools.partial(DocumentFetcher, verify=trusted))
    emulator = create_app(orders=10)
    built = build_parts(settings, transport=httpx2.ASGITransport(app=emulator))
    BUILT[:] = [(built, emulator)]

    async def callback(request: Request) -> Response:
        return PlainTextResponse("Connected: you may close this page.")

    app = http_app(built.server, settings, [Route("/approvals/test-callback", callback)])
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    with serve_in_thread(app, config):
        yield settings.base_url()


def consent_in_browser(
    driver: Any, authorize_url: str, callback: str, vouched: str = "unverified, registered by the client itself"
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver.delete_all_cookies()
    driver.get(authorize_url)
    WebDriverWait(driver, 10).until(lambda d: "/oauth/sign-in" in d.current_url)
    driver.find_element(By.ID, "secret").send_keys(ADA)
    driver.find_element(By.CSS_SELECTOR, "form.login button[type=submit]").click()
    WebDriverWait(driver, 10).until(lambda d: "/oauth/consent" in d.current_url)
    page = driver.find_element(By.TAG_NAME, "main").text
    assert "Polar desk" in page and vouched in page and "ada" in page
    driver.find_element(By.CSS_SELECTOR, "button[value=allow]").click()
    WebDriverWait(driver, 10).until(lambda d: d.current_url.startswith(callback))


async def test_the_sdk_client_registers_a_person_consents_and_tools_run_as_that_person(
    chromium: Any, site: str
) -> None:
    callback = f"{site}/approvals/test-callback"

    async def redirect(authorize_url: str) -> None:
        await anyio.to_thread.run_sync(consent_in_browser, chromium, authorize_url, callback)

    async def came_back() -> AuthorizationCodeResult:
        answer = {k: v[0] for k, v in parse_qs(urlsplit(chromium.current_url).query).items()}
        return AuthorizationCodeResult(code=answer["code"], state=answer.get("state"), iss=answer.get("iss"))

    metadata = OAuthClientMetadata(
        redirect_uris=[AnyUrl(callback)],
        client_name="Polar desk",
        token_endpoint_auth_method="none",
        scope="polar:read polar:write",
    )
    storage = Memory()
    auth = OAuthClientProvider(f"{site}/mcp", metadata, storage, redirect_handler=redirect, callback_handler=came_back)
    http = httpx2.AsyncClient(auth=auth, timeout=30)
    async with Client(streamable_http_client(f"{site}/mcp", http_client=http), mode="legacy") as client:
        built, emulator = BUILT[0]
        order_id = emulator.state.emulator.seed_info.draft_orders["good_card"]
        tools = await client.list_tools()
        products = await client.call_tool("list_products", {})
        asked = await client.call_tool("finalize_order", {"order_id": order_id})
    assert storage.client is not None and storage.tokens is not None and storage.tokens.refresh_token is not None
    # The SDK's client asks for the scopes the resource's metadata lists, past its own metadata's.
    assert storage.tokens.scope is not None and set(storage.tokens.scope.split()) == set(SCOPES)
    assert "finalize_order" in {tool.name for tool in tools.tools}
    assert not products.is_error
    assert asked.structured_content is not None and asked.structured_content["status"] == "approval_pending"
    approval = await (await built.store()).get_approval(asked.structured_content["approval"]["approval_id"])
    assert approval is not None
    assert (approval.client, approval.asked_by) == (f"oauth:{storage.client.client_id}", "ada")


@pytest.fixture
def document_site(authority: Authority) -> Iterator[tuple[str, dict[str, Any]]]:
    """An https site of the client's own (localhost, certified by the tests' authority) serving its metadata
    document, as claude.ai serves its own."""
    import uvicorn
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse

    document: dict[str, Any] = {}

    async def serve(_: Request) -> Response:
        return JSONResponse(document)

    app = Starlette(routes=[Route("/client.json", serve)])
    port = free_port()
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="off",
        ssl_certfile=str(authority.cert_file),
        ssl_keyfile=str(authority.key_file),
    )
    with serve_in_thread(app, config):
        yield f"https://localhost:{port}/client.json", document


async def test_a_client_known_by_its_metadata_document_connects_without_registering(
    chromium: Any, authority: Authority, site: str, document_site: tuple[str, dict[str, Any]]
) -> None:
    """The 2026-07-28 way (Client ID Metadata Documents): the client id is the URL of a document on the client's
    own site, which the server fetches; the consent page names that site as the client's verified identity."""
    callback = f"{site}/approvals/test-callback"
    url, document = document_site
    document.update(
        client_id=url,
        client_name="Polar desk",
        redirect_uris=[callback],
        token_endpoint_auth_method="none",
        grant_types=["authorization_code", "refresh_token"],
        response_types=["code"],
    )

    async def redirect(authorize_url: str) -> None:
        vouched = "the site localhost"
        await anyio.to_thread.run_sync(consent_in_browser, chromium, authorize_url, callback, vouched)

    async def came_back() -> AuthorizationCodeResult:
        answer = {k: v[0] for k, v in parse_qs(urlsplit(chromium.current_url).query).items()}
        return AuthorizationCodeResult(code=answer["code"], state=answer.get("state"), iss=answer.get("iss"))

    metadata = OAuthClientMetadata(
        redirect_uris=[AnyUrl(callback)], client_name="Polar desk", token_endpoint_auth_method="none"
    )
    storage = Memory()
    auth = OAuthClientProvider(
        f"{site}/mcp", metadata, storage, redirect_handler=redirect, callback_handler=came_back, client_metadata_url=url
    )
    http = httpx2.AsyncClient(auth=auth, timeout=30)
    async with Client(streamable_http_client(f"{site}/mcp", http_client=http), mode="legacy") as client:
        products = await client.call_tool("list_products", {})
    assert not products.is_error
    assert storage.client is not None and storage.client.client_id == url  # no registration: the URL is the id
    assert storage.tokens is not None and storage.tokens.refresh_token is not None
