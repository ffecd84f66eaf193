"""The SDK's own OAuth client against the authorization server, with a person signing in and consenting in a real
headless Chromium.

Until the MCP endpoint checks these tokens, a stand-in resource on the same server answers 401 with RFC 9728
metadata, and echoes what a token grants once the client has one: the client discovers the authorization server
from it, registers (DCR), sends the browser to authorize, and exchanges the code, as it would against /mcp.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import anyio
import httpx2
import pytest
from mcp.client.auth import OAuthClientProvider
from mcp.shared.auth import AuthorizationCodeResult, OAuthClientInformationFull, OAuthClientMetadata, OAuthToken
from pydantic import AnyUrl
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from polar_orders_mcp.oauth import embedded
from polar_orders_mcp.oauth.grants import SCOPES
from polar_orders_mcp.store.sql import SqlStore
from tests.approvals.test_console_browser import chromium
from tests.oauth.conftest import ADA, make_settings
from tests.server.conftest import serve_in_thread

__all__ = ["chromium"]

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


@pytest.fixture
def site(tmp_path: Path) -> Iterator[str]:
    """The authorization server, a stand-in MCP resource and the client's callback page, on one loopback port."""
    app = Starlette()
    with serve_in_thread(app) as url:
        port = int(url.rsplit(":", 1)[1])
        settings = make_settings(port=port)
        base = settings.base_url()
        store = SqlStore(f"sqlite:///{tmp_path / 'state.db'}")

        async def provide() -> SqlStore:
            return store

        verifier, routes = embedded.build(settings, provide)

        async def resource(request: Request) -> Response:
            token = request.headers.get("authorization", "").removeprefix("Bearer ")
            grant = await verifier.verify(token) if token else None
            if grant is None or grant.person is None:
                challenge = f'Bearer resource_metadata="{base}/.well-known/oauth-protected-resource/mcp"'
                return Response(status_code=401, headers={"WWW-Authenticate": challenge})
            return JSONResponse(
                {"person": grant.person.name, "client": grant.client, "scopes": sorted(grant.scopes or ())}
            )

        async def callback(request: Request) -> Response:
            return PlainTextResponse("Connected: you may close this page.")

        # RFC 9728 metadata naming the issuer exactly (pydantic's AnyHttpUrl would add a slash the client refuses).
        described = {"resource": f"{base}/mcp", "authorization_servers": [base], "scopes_supported": list(SCOPES)}

        async def protected_resource(request: Request) -> Response:
            return JSONResponse(described)

        app.router.routes.extend(
            [
                *routes,
                Route("/.well-known/oauth-protected-resource/mcp", protected_resource),
                Route("/mcp", resource, methods=["GET", "POST"]),
                Route("/callback", callback),
            ]
        )
        yield base


def consent_in_browser(driver: Any, authorize_url: str, callback: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver.delete_all_cookies()
    driver.get(authorize_url)
    WebDriverWait(driver, 10).until(lambda d: "/oauth/sign-in" in d.current_url)
    driver.find_element(By.ID, "secret").send_keys(ADA)
    driver.find_element(By.CSS_SELECTOR, "form.login button[type=submit]").click()
    WebDriverWait(driver, 10).until(lambda d: "/oauth/consent" in d.current_url)
    page = driver.find_element(By.TAG_NAME, "main").text
    assert "Polar desk" in page and "unverified, registered by the client itself" in page and "ada" in page
    driver.find_element(By.CSS_SELECTOR, "button[value=allow]").click()
    WebDriverWait(driver, 10).until(lambda d: d.current_url.startswith(callback))


async def test_the_sdk_client_registers_and_a_person_consents_in_a_browser(chromium: Any, site: str) -> None:
    callback = f"{site}/callback"

    async def redirect(authorize_url: str) -> None:
        await anyio.to_thread.run_sync(consent_in_browser, chromium, authorize_url, callback)

    async def came_back() -> AuthorizationCodeResult:
        answer = {k: v[0] for k, v in parse_qs(urlsplit(chromium.current_url).query).items()}
        return AuthorizationCodeResult(code=answer["code"], state=answer.get("state"), iss=answer.get("iss"))

    metadata = OAuthClientMetadata(redirect_uris=[AnyUrl(callback)], client_name="Polar desk",
                                   token_endpoint_auth_method="none", scope="polar:read polar:write")  # fmt: skip
    storage = Memory()
    auth = OAuthClientProvider(f"{site}/mcp", metadata, storage, redirect_handler=redirect, callback_handler=came_back)
    async with httpx2.AsyncClient(auth=auth, timeout=30) as http:
        answer = await http.get(f"{site}/mcp")
    assert answer.status_code == 200, answer.text
    assert storage.client is not None
    assert answer.json() == {"person": "ada", "client": f"oauth:{storage.client.client_id}",
                             "scopes": sorted(SCOPES)}  # fmt: skip
    # The SDK's client asks for the scopes the resource's metadata lists, past its own metadata's.
    assert storage.tokens is not None and storage.tokens.refresh_token is not None
