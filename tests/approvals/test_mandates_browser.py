"""Standing approvals in a real headless Chromium: a person makes one in the console, an agent's refund that fits
it is done without asking, and once the person revokes it the next refund is asked about; signed with a passkey
(a virtual authenticator) where the server needs one.

The console is served over HTTP on loopback; the agent is an MCP client in memory on a second build of the same
server sharing its store (as a second process or replica would). One browser for the module (the `chromium`
fixture of test_console_browser.py, which skips without Chromium except under CI=true, where it fails).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx2
import pytest
from mcp.client import Client

from polar_orders_mcp.emulator.app import create_app
from polar_orders_mcp.server.app import ServerParts, build_parts
from polar_orders_mcp.server.http import http_app
from polar_orders_mcp.settings import Settings
from tests.approvals.console_client import APPROVER_SECRET
from tests.approvals.test_console_browser import chromium, click_and_wait
from tests.approvals.test_passkeys_browser import authenticator, enrol, main_text
from tests.server.conftest import HTTP_TOKEN, serve_in_thread
from tests.tools.conftest import call

__all__ = ["authenticator", "chromium"]

pytestmark = pytest.mark.anyio


class Desk:
    """The console's address, the agent's server (in memory) and the emulator's state."""

    def __init__(self, origin: str, parts: ServerParts, state: Any) -> None:
        self.origin, self.parts, self.state = origin, parts, state

    def refundable(self) -> tuple[str, str]:
        """Two paid USD orders: the seeded $15.00 one and another, to refund in part."""
        first = self.state.seed_info.paid_order_id
        other = next(
            o.id
            for o in self.state.store.orders
            if o.status == "paid"
            and o.currency == "usd"
            and o.id != first
            and o.total_amount >= 1000
            and o.id not in self.state.seed_info.disputed_orders.values()
        )
        return first, other

    async def refund(self, order_id: str, total: int) -> dict[str, Any]:
        async with Client(self.parts.server) as client:
            return await call(client, "create_refund", {"order_id": order_id, "total": total})


def _desk(tmp_path: Path, **settings: Any) -> Iterator[Desk]:
    emulator = create_app(orders=20)
    given = {
        "emulator": True,
        "transport": "http",
        "http_token": HTTP_TOKEN,
        "approver_token": APPROVER_SECRET,
        "approval_wait": 0,
        "approval_ttl": 600,
        "state_dir": tmp_path / "state",
        "toolsets": ["all"],
        **settings,
    }
    served = build_parts(Settings(**given), transport=httpx2.ASGITransport(app=emulator))
    agent = build_parts(Settings(**given), transport=httpx2.ASGITransport(app=emulator))
    with serve_in_thread(http_app(served.server, Settings(**given))) as url:
        origin = url.replace("127.0.0.1", "localhost") if "console_url" in settings else url
        served.console.base_url = agent.console.base_url = f"{origin}/approvals"
        yield Desk(origin, agent, emulator.state.emulator)


@pytest.fixture
def desk(tmp_path: Path) -> Iterator[Desk]:
    yield from _desk(tmp_path)


@pytest.fixture
def passkey_desk(tmp_path: Path) -> Iterator[Desk]:
    """Every approval, standing ones included, needs a passkey; the console on `localhost` (an RP ID is a name)."""
    yield from _desk(tmp_path, approval_proof="passkey", console_url="http://localhost:1/approvals")


def sign_in(driver: Any, origin: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver.delete_all_cookies()
    driver.get(f"{origin}/approvals/mandates")
    driver.find_element(By.ID, "secret").send_keys(APPROVER_SECRET)
    driver.find_element(By.CSS_SELECTOR, "form.login button[type=submit]").click()
    WebDriverWait(driver, 10).until(lambda d: urlsplit(d.current_url).path == "/approvals/mandates")


def make_mandate(driver: Any, origin: str, *, signing: str) -> str:
    """Fill in "create_refund up to $20.00, at most 10 acts, $100.00 a day", review it, and sign; the new id."""
    from selenium.webdriver.common.by import By

    driver.get(f"{origin}/approvals/mandates/new")
    assert driver.find_element(By.CSS_SELECTOR, 'input[name=tools][value="create_refund"]').is_selected()
    for name, value in (("max_per_act", "20.00"), ("max_acts", "10"), ("daily_budget", "100.00")):
        driver.find_element(By.ID, f"f-{name}").send_keys(value)
    click_and_wait(driver, "form.mandate-form button[type=submit]", "/approvals/mandates/new")
    shown = main_text(driver)
    assert "create_refund up to $20.00 each; $100.00 a day; at most 10 acts" in shown
    assert signing in driver.find_element(By.CSS_SELECTOR, "button.sign").text
    click_and_wait(driver, "button.sign", "done=created")
    assert "The standing approval was signed" in main_text(driver)
    return str(driver.current_url.rpartition("#")[2])


def revoke(driver: Any, mandate_id: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver.find_element(By.CSS_SELECTOR, f'section[id="{mandate_id}"] button.revoke').click()
    WebDriverWait(driver, 10).until(lambda d: "done=revoked" in d.current_url)


async def test_a_person_makes_a_standing_approval_a_refund_is_done_under_it_and_after_revoking_one_is_asked(
    chromium: Any, desk: Desk
) -> None:
    first, other = desk.refundable()
    sign_in(chromium, desk.origin)
    mandate_id = make_mandate(chromium, desk.origin, signing="Sign")
    done = await desk.refund(first, 1500)
    assert done["status"] == "refunded" and mandate_id in done["decided"], done
    assert desk.state.store.order(first).status == "refunded"
    chromium.get(f"{desk.origin}/approvals/mandates")
    assert "Used: 1 acts, $15.00 in all, $15.00 today · left: 9 acts, $85.00 today" in main_text(chromium)
    chromium.get(f"{desk.origin}/approvals")
    assert f"Granted under standing approval {mandate_id} (signed by approver)" in main_text(chromium)
    chromium.get(f"{desk.origin}/approvals/mandates")
    revoke(chromium, mandate_id)
    assert "It was revoked." in main_text(chromium) and "No standing approval is active." in main_text(chromium)
    asked = await desk.refund(other, 1000)
    assert asked["status"] == "approval_pending", asked
    assert desk.state.store.order(other).status == "paid"


async def test_with_passkeys_required_the_person_signs_the_terms_with_their_passkey(
    authenticator: Any, passkey_desk: Desk
) -> None:
    first, _ = passkey_desk.refundable()
    enrol(authenticator, passkey_desk.origin)
    mandate_id = make_mandate(authenticator, passkey_desk.origin, signing="Sign with passkey")
    assert "with a passkey" in main_text(authenticator)
    done = await passkey_desk.refund(first, 1500)
    assert done["status"] == "refunded" and mandate_id in done["decided"], done
