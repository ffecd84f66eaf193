"""A person at the approval console, driven over HTTP: sign in, then approve or deny requests."""

from __future__ import annotations

import re
from typing import Any

import httpx2

from polar_orders_mcp.approvals.console import Console, console_app

APPROVER_SECRET = "approver-secret-for-tests"


class Person:
    """Signs in with an approver secret and clicks Approve or Deny, as a browser would (cookies, CSRF)."""

    def __init__(
        self,
        console: Console | None = None,
        *,
        base_url: str = "http://127.0.0.1:8765",
        app: Any = None,
        secret: str = APPROVER_SECRET,
        peer: tuple[str, int] = ("127.0.0.1", 123),
        path: str = "/approvals",
    ) -> None:
        """`peer`: the address the console sees the browser at. `path`: where the console is (stdio's listener
        serves it under a segment of its own)."""
        transport = httpx2.ASGITransport(app=app or console_app(console), client=peer) if (app or console) else None
        self.http = httpx2.AsyncClient(base_url=base_url, transport=transport, follow_redirects=False, timeout=30)
        self.secret = secret
        self.origin = base_url
        self.path = path

    async def __aenter__(self) -> Person:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.http.aclose()

    async def sign_in(self) -> httpx2.Response:
        form = await self.http.get(f"{self.path}/login")
        csrf = _field(form.text, "csrf")
        return await self.http.post(
            f"{self.path}/login",
            data={"csrf": csrf, "next": self.path, "secret": self.secret},
            headers={"Origin": self.origin},
        )

    async def decide(self, approval_id: str, decision: str, reason: str | None = None) -> httpx2.Response:
        page = await self.http.get(f"{self.path}/{approval_id}")
        assert page.status_code == 200, page.text[:300]
        csrf = _field(page.text, "csrf")
        data = {"csrf": csrf, "decision": decision, **({"reason": reason} if reason is not None else {})}
        return await self.http.post(f"{self.path}/{approval_id}", data=data, headers={"Origin": self.origin})

    async def approve(self, approval_id: str) -> httpx2.Response:
        if "pom_console" not in self.http.cookies:
            await self.sign_in()
        return await self.decide(approval_id, "approve")

    async def deny(self, approval_id: str, reason: str | None = None) -> httpx2.Response:
        if "pom_console" not in self.http.cookies:
            await self.sign_in()
        return await self.decide(approval_id, "deny", reason)


def _field(html: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert found, f"no {name} field in the page"
    return found.group(1)
