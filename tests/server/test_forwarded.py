"""X-Forwarded-For and X-Forwarded-Proto are believed only from proxies the operator names: from anyone else, the
address and scheme they claim are ignored (the console's cookies are Secure by the scheme it sees)."""

from __future__ import annotations

from typing import Any

import httpx2
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from polar_orders_mcp.server.http import uvicorn_config
from polar_orders_mcp.settings import Settings
from tests.server.conftest import HTTP_TOKEN, serve_in_thread

CLAIMED = {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"}


def seen_behind(tmp_path: Any, **settings: Any) -> dict[str, str]:
    """The peer address and scheme an app served as `serve` runs it sees for a request claiming others."""
    config = Settings(
        emulator=True,
        transport="http",
        http_token=HTTP_TOKEN,
        host="127.0.0.1",
        port=0,
        state_dir=tmp_path / "state",
        **settings,
    )

    async def echo(request: Request) -> JSONResponse:
        return JSONResponse({"peer": request.client.host if request.client else "", "scheme": request.url.scheme})

    app = Starlette(routes=[Route("/", echo)])
    with serve_in_thread(app, uvicorn_config(app, config)) as url:
        return dict(httpx2.get(url, headers=CLAIMED).json())


def test_a_claimed_address_from_anyone_not_named_a_proxy_is_ignored(tmp_path: Any) -> None:
    """The finding: uvicorn believes these headers from loopback by default, so any local process could pose as
    any address (then the key of the console's sign-in slow-down) or as a TLS connection."""
    assert seen_behind(tmp_path) == {"peer": "127.0.0.1", "scheme": "http"}


def test_a_named_proxy_is_believed(tmp_path: Any) -> None:
    assert seen_behind(tmp_path, trusted_proxies=["127.0.0.1"]) == {"peer": "203.0.113.7", "scheme": "https"}
