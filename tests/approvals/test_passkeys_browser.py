"""Passkeys in a real headless Chromium with a virtual authenticator (user verification on), against the HTTP
server an agent is using: enrol, approve, a look-alike page on another port relaying to the console, an
assertion replayed for another request, a passkey removed after approving.

One browser for the module (the `chromium` fixture of test_console_browser.py, which skips without Chromium
except under CI=true, where it fails).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx2
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from polar_orders_mcp.emulator.app import create_app
from polar_orders_mcp.server.app import build_parts
from polar_orders_mcp.server.http import http_app
from polar_orders_mcp.settings import Settings
from tests.approvals.console_client import APPROVER_SECRET
from tests.approvals.test_console_browser import agent, chromium, click_and_wait
from tests.server.conftest import HTTP_TOKEN, serve_in_thread

__all__ = ["chromium"]

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def authenticator(chromium: Any) -> Iterator[Any]:
    """A platform passkey that verifies its user, as a laptop's fingerprint reader does."""
    from selenium.webdriver.common.virtual_authenticator import VirtualAuthenticatorOptions

    options = VirtualAuthenticatorOptions(
        protocol="ctap2",
        transport="internal",
        has_resident_key=True,
        has_user_verification=True,
        is_user_verified=True,
    )
    chromium.add_virtual_authenticator(options)
    try:
        yield chromium
    finally:
        chromium.remove_virtual_authenticator()


@pytest.fixture
def desk(tmp_path: Path) -> Iterator[tuple[str, str, Any]]:
    """The HTTP server needing a passkey for every approval; its console on `localhost` (a passkey's RP ID is
    a host name). Yields the agent's URL, the console's origin and the emulator's state."""
    emulator = create_app(orders=20)
    settings = Settings(
        emulator=True,
        transport="http",
        http_token=HTTP_TOKEN,
        approver_token=APPROVER_SECRET,
        approval_wait=0,
        approval_ttl=600,
        state_dir=tmp_path / "state",
        approval_proof="passkey",
        console_url="http://localhost:1/approvals",  # the port is known once it serves: set below
    )
    built = build_parts(settings, transport=httpx2.ASGITransport(app=emulator))
    with serve_in_thread(http_app(built.server, settings)) as url:
        origin = url.replace("127.0.0.1", "localhost")
        built.console.base_url = f"{origin}/approvals"
        yield url, origin, emulator.state.emulator


def sign_in(driver: Any, origin: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver.delete_all_cookies()
    driver.get(f"{origin}/approvals/passkeys")
    driver.find_element(By.ID, "secret").send_keys(APPROVER_SECRET)
    # Not click_and_wait(..., "/approvals/passkeys"): the sign-in page's own URL (login?next=/approvals/passkeys)
    # has it already, so that wait could end before the Passkeys page has loaded.
    driver.find_element(By.CSS_SELECTOR, "form.login button[type=submit]").click()
    WebDriverWait(driver, 10).until(lambda d: urlsplit(d.current_url).path == "/approvals/passkeys")


def enrol(driver: Any, origin: str) -> None:
    from selenium.webdriver.common.by import By

    sign_in(driver, origin)
    driver.find_element(By.ID, "passkey-name").send_keys("virtual laptop")
    click_and_wait(driver, "form.enrol button[type=submit]", "done=added")


def refused_page(driver: Any) -> str:
    """Wait for the console's answer refusing a decision; return its text."""
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, 10).until(lambda d: d.title.startswith("Refused"))
    return main_text(driver)


def main_text(driver: Any) -> str:
    from selenium.webdriver.common.by import By

    return str(driver.find_element(By.TAG_NAME, "main").text)


async def ask(client: Any, order_id: str) -> str:
    first = await client.call_tool("finalize_order", {"order_id": order_id})
    approval = first.structured_content["approval"]
    return str(approval["approval_id"])


async def test_a_person_enrols_a_passkey_approves_with_it_and_the_agents_next_call_charges(
    authenticator: Any, desk: tuple[str, str, Any]
) -> None:
    url, origin, state = desk
    order_id = state.seed_info.draft_orders["good_card"]
    enrol(authenticator, origin)
    listed = main_text(authenticator)
    async with agent(url) as client:
        approval_id = await ask(client, order_id)
        authenticator.get(f"{origin}/approvals/{approval_id}")
        assert "Approving this request needs your passkey." in main_text(authenticator)
        click_and_wait(authenticator, "button.approve", "done=approved")
        approved = main_text(authenticator)
        charged = await client.call_tool("finalize_order", {"order_id": order_id, "approval_id": approval_id})
    assert "virtual laptop" in listed and "Your passkey was added." in listed
    assert "You approved it." in approved and "with a passkey" in approved
    assert not charged.is_error and charged.structured_content["status"] == "charged"  # type: ignore[index]
    assert state.store.order(order_id).status == "paid"


def squatter(console_origin: str) -> Starlette:
    """A process on another localhost port serving the console's own pages by relaying every request to it:
    the browser hands it the console's cookie (cookies are not tied to a port), and it rewrites the Origin."""

    async def relay(request: Request) -> Response:
        headers = {name: value for name, value in request.headers.items() if name in ("cookie", "content-type")}
        async with httpx2.AsyncClient() as http:
            answer = await http.request(
                request.method,
                f"{console_origin}{request.url.path}",
                params=dict(request.query_params),
                headers={**headers, "origin": console_origin},
                content=await request.body(),
            )
        kept = ("content-type", "location", "content-security-policy")
        return Response(answer.content, answer.status_code, {k: v for k, v in answer.headers.items() if k in kept})

    return Starlette(routes=[Route("/{path:path}", relay, methods=["GET", "POST"])])


async def test_a_look_alike_page_on_another_port_cannot_relay_the_persons_passkey(
    authenticator: Any, desk: tuple[str, str, Any]
) -> None:
    from selenium.webdriver.common.by import By

    url, origin, state = desk
    order_id = state.seed_info.draft_orders["good_card"]
    enrol(authenticator, origin)
    async with agent(url) as client:
        approval_id = await ask(client, order_id)
        with serve_in_thread(squatter(origin)) as squatted:
            authenticator.get(f"{squatted.replace('127.0.0.1', 'localhost')}/approvals/{approval_id}")
            assert "Approving this request needs your passkey." in main_text(authenticator)  # the console's page
            authenticator.find_element(By.CSS_SELECTOR, "button.approve").click()
            refused = refused_page(authenticator)
        told = await client.call_tool("finalize_order", {"order_id": order_id, "approval_id": approval_id})
    assert "Not approved: your passkey's answer does not prove this decision (Unexpected client data origin" in (
        refused
    )
    assert told.structured_content["status"] == "approval_pending"  # type: ignore[index]
    assert state.store.order(order_id).status == "draft"


CAPTURE = """
HTMLFormElement.prototype.submit = (function (submit) {
  return function () {
    sessionStorage.setItem("captured", JSON.stringify({nonce: this.elements.nonce.value,
                                                       assertion: this.elements.assertion.value}));
    return submit.call(this);
  };
})(HTMLFormElement.prototype.submit);
"""

REPLAY = """
const captured = JSON.parse(sessionStorage.getItem("captured"));
const form = document.querySelector("form[data-passkey-approve]");
form.elements.assertion.value = captured.assertion;
if (arguments[0]) form.elements.nonce.value = captured.nonce;
HTMLFormElement.prototype.submit.call(form);
"""


async def test_an_assertion_made_in_the_browser_and_replayed_for_another_request_is_refused(
    authenticator: Any, desk: tuple[str, str, Any]
) -> None:
    url, origin, state = desk
    drafts = state.seed_info.draft_orders
    enrol(authenticator, origin)
    async with agent(url) as client:
        first, second = await ask(client, drafts["good_card"]), await ask(client, drafts["declining_card"])
        authenticator.get(f"{origin}/approvals/{first}")
        authenticator.execute_script(CAPTURE)
        click_and_wait(authenticator, "button.approve", "done=approved")
        refused = []
        for with_its_nonce in (False, True):
            authenticator.get(f"{origin}/approvals/{second}")
            authenticator.execute_script(REPLAY, with_its_nonce)
            refused.append(refused_page(authenticator))
        still = await client.call_tool("finalize_order", {"order_id": drafts["declining_card"], "approval_id": second})
    assert "Client data challenge was not expected challenge" in refused[0]
    assert "This page's passkey challenge was used already or is out of date" in refused[1]
    assert still.structured_content["status"] == "approval_pending"  # type: ignore[index]


async def test_a_passkey_removed_after_approving_stops_the_charge(
    authenticator: Any, desk: tuple[str, str, Any]
) -> None:
    url, origin, state = desk
    order_id = state.seed_info.draft_orders["good_card"]
    enrol(authenticator, origin)
    async with agent(url) as client:
        approval_id = await ask(client, order_id)
        authenticator.get(f"{origin}/approvals/{approval_id}")
        click_and_wait(authenticator, "button.approve", "done=approved")
        authenticator.get(f"{origin}/approvals/passkeys")
        click_and_wait(authenticator, "button.remove", "done=removed")
        told = await client.call_tool("finalize_order", {"order_id": order_id, "approval_id": approval_id})
    assert told.is_error
    assert "was removed since" in told.content[0].text  # type: ignore[union-attr]
    assert state.store.order(order_id).status == "draft"
