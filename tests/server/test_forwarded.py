"""X-Forwarded-For is believed only from proxies the operator names: from anyone else, an address it claims
is ignored (the approval console counts failed sign-ins per address)."""

from __future__ import annotations

import re
from typing import Any

import httpx2

from polar_orders_mcp.emulator.app import create_app
from polar_orders_mcp.server.app import build_server
from polar_orders_mcp.server.http import http_app, uvicorn_config
from polar_orders_mcp.settings import Settings
from tests.approvals.console_client import APPROVER_SECRET
from tests.server.conftest import HTTP_TOKEN, serve_in_thread


def wrong_secret_answers(tmp_path: Any, **settings: Any) -> list[int]:
    """Six wrong secrets posted to the console of a server as `serve` runs it, each claiming another address."""
    config = Settings(
        emulator=True, transport="http", http_token=HTTP_TOKEN, approver_token=APPROVER_SECRET, host="127.0.0.1",
        port=0, state_dir=tmp_path / "state", **settings,
    )  # fmt: skip
    server = build_server(config, transport=httpx2.ASGITransport(app=create_app(orders=5)))
    app = http_app(server, config)
    statuses = []
    with serve_in_thread(app, uvicorn_config(app, config)) as url, httpx2.Client(base_url=url) as http:
        for n in range(6):
            form = http.get("/approvals/login")
            csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
            assert csrf is not None, form.text[:300]
            answer = http.post(
                "/approvals/login",
                data={"csrf": csrf.group(1), "secret": "not-the-secret", "next": "/approvals"},
                headers={"X-Forwarded-For": f"203.0.113.{n + 1}", "Origin": url},
            )
            statuses.append(answer.status_code)
    return statuses


def test_a_claimed_address_from_anyone_not_named_a_proxy_is_ignored(tmp_path: Any) -> None:
    """The finding: 300 wrong guesses with a rotating X-Forwarded-For from loopback were never slowed down."""
    assert wrong_secret_answers(tmp_path) == [401] * 5 + [429]


def test_a_named_proxy_is_believed(tmp_path: Any) -> None:
    assert wrong_secret_answers(tmp_path, trusted_proxies=["127.0.0.1"]) == [401] * 6
