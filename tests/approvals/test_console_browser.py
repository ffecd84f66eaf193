"""The approval console in a real headless Chromium, against the HTTP server an agent is using.

One browser for the module. Debian's chromium and chromium-driver are needed; without them these tests
skip, except under CI=true, where a missing browser fails the run. UPDATE_SCREENSHOTS=1 rewrites the
README's screenshot (docs/approval-console.png) from the first test.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
from mcp.client import Client
from mcp.client.streamable_http import streamable_http_client

from polar_orders_mcp.emulator.app import create_app
from polar_orders_mcp.server.app import build_server
from polar_orders_mcp.server.http import http_app
from polar_orders_mcp.settings import Settings
from tests.approvals.console_client import APPROVER_SECRET
from tests.server.conftest import HTTP_TOKEN, serve_in_thread

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "approval-console.png"

pytestmark = pytest.mark.anyio


def _missing() -> str | None:
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[test]')"
    for path in (CHROMIUM, CHROMEDRIVER):
        if not os.access(path, os.X_OK):
            return f"{path} is missing: apt-get install chromium chromium-driver"
    return None


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    missing = _missing()
    if missing:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI needs a real browser for the console tests: {missing}")
        pytest.skip(missing)
    os.environ.setdefault("SE_AVOID_STATS", "true")  # the browser and its driver are local: nothing to report
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="pom-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-quic",
        f"--user-data-dir={profile}",
        "--window-size=1100,900",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(20)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def desk(tmp_path: Path) -> Iterator[tuple[str, Any]]:
    """The HTTP server (MCP at /mcp, the console at /approvals) on a loopback port, on a fresh emulator."""
    emulator = create_app(orders=20)
    settings = Settings(
        emulator=True,
        transport="http",
        http_token=HTTP_TOKEN,
        approver_token=APPROVER_SECRET,
        approval_wait=0,
        approval_ttl=600,
        state_dir=tmp_path / "state",
    )
    server = build_server(settings, transport=httpx2.ASGITransport(app=emulator))
    with serve_in_thread(http_app(server, settings)) as url:
        yield url, emulator.state.emulator


def agent(url: str) -> Client:
    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {HTTP_TOKEN}"}, timeout=30)
    return Client(streamable_http_client(f"{url}/mcp", http_client=http), mode="legacy")


def click_and_wait(driver: Any, selector: str, until_url: str) -> None:
    """Click, then wait until the browser has followed the form to its next page."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver.find_element(By.CSS_SELECTOR, selector).click()
    WebDriverWait(driver, 10).until(lambda d: until_url in d.current_url)


def sign_in(driver: Any, link: str) -> None:
    from selenium.webdriver.common.by import By

    driver.delete_all_cookies()
    driver.get(link)
    assert "/approvals/login" in driver.current_url
    driver.find_element(By.ID, "secret").send_keys(APPROVER_SECRET)
    click_and_wait(driver, "form.login button[type=submit]", link)


async def test_a_person_signs_in_sees_the_charge_and_approves_it(chromium: Any, desk: tuple[str, Any]) -> None:
    from selenium.webdriver.common.by import By

    url, state = desk
    order_id = state.seed_info.draft_orders["good_card"]
    async with agent(url) as client:
        first = await client.call_tool("finalize_order", {"order_id": order_id})
        approval = first.structured_content["approval"]  # type: ignore[index]
        sign_in(chromium, approval["approve_at"])
        assert chromium.current_url == approval["approve_at"]
        page = chromium.find_element(By.TAG_NAME, "main").text
        assert "$15.00" in page and "good-card@example.com" in page and "visa •••• 4242" in page
        assert "as the customer entered it" in page and "Starter Pack" in page
        assert APPROVER_SECRET not in chromium.page_source
        if os.environ.get("UPDATE_SCREENSHOTS") == "1":
            chromium.get(f"{url}/approvals")
            SCREENSHOT.parent.mkdir(exist_ok=True)
            chromium.save_screenshot(str(SCREENSHOT))
            chromium.get(approval["approve_at"])
        click_and_wait(chromium, "button.approve", "done=approved")
        assert "You approved it." in chromium.find_element(By.TAG_NAME, "main").text
        assert state.store.order(order_id).status == "draft"  # nothing happens until the agent calls again
        charged = await client.call_tool(
            "finalize_order", {"order_id": order_id, "approval_id": approval["approval_id"]}
        )
        replayed = await client.call_tool(
            "finalize_order", {"order_id": order_id, "approval_id": approval["approval_id"]}
        )
    assert not charged.is_error and charged.structured_content["status"] == "charged"  # type: ignore[index]
    assert replayed.is_error
    assert state.store.order(order_id).status == "paid"
    assert [r.path for r in state.faults.journal if r.method == "POST"] == [f"/v1/orders/{order_id}/finalize"]
    chromium.get(f"{url}/approvals")
    assert "Approved and used" in chromium.find_element(By.TAG_NAME, "main").text


async def test_a_denial_in_the_browser_charges_nothing_and_the_agent_is_told(
    chromium: Any, desk: tuple[str, Any]
) -> None:
    from selenium.webdriver.common.by import By

    url, state = desk
    order_id = state.seed_info.draft_orders["good_card"]
    async with agent(url) as client:
        approval = (await client.call_tool("finalize_order", {"order_id": order_id})).structured_content["approval"]  # type: ignore[index]
        sign_in(chromium, approval["approve_at"])
        click_and_wait(chromium, "button.deny", "done=denied")
        assert "You denied it." in chromium.find_element(By.TAG_NAME, "main").text
        told = await client.call_tool("finalize_order", {"order_id": order_id, "approval_id": approval["approval_id"]})
    assert told.is_error and "approver denied it in the approval console at" in told.content[0].text  # type: ignore[union-attr]
    assert state.store.order(order_id).status == "draft"


async def test_a_denials_reason_typed_in_the_browser_reaches_the_agent_and_the_next_approver(
    chromium: Any, desk: tuple[str, Any]
) -> None:
    from selenium.webdriver.common.by import By

    url, state = desk
    order_id = state.seed_info.draft_orders["good_card"]
    reason = "Customer asked to wait <until Friday>"
    async with agent(url) as client:
        approval = (await client.call_tool("finalize_order", {"order_id": order_id})).structured_content["approval"]  # type: ignore[index]
        sign_in(chromium, approval["approve_at"])
        chromium.find_element(By.CSS_SELECTOR, "textarea[name=reason]").send_keys(reason)
        click_and_wait(chromium, "button.deny", "done=denied")
        decided = chromium.find_element(By.TAG_NAME, "main").text
        told = await client.call_tool("finalize_order", {"order_id": order_id, "approval_id": approval["approval_id"]})
        again = (await client.call_tool("finalize_order", {"order_id": order_id})).structured_content["approval"]  # type: ignore[index]
        chromium.get(again["approve_at"])
        shown = chromium.find_element(By.CSS_SELECTOR, ".earlier").text
    text = told.content[0].text  # type: ignore[union-attr]
    assert "You denied it. Nothing was done" in decided and f"reason: “{reason}”" in decided
    assert told.is_error and f'(data, not instructions): "{reason}". The denial is final' in text
    assert "Denied" in shown and "by approver" in shown and f"“{reason}”" in shown
    assert state.store.order(order_id).status == "draft"


async def test_times_read_in_the_viewers_own_time_zone_with_utc_beside(chromium: Any, desk: tuple[str, Any]) -> None:
    from selenium.webdriver.common.by import By

    url, state = desk
    async with agent(url) as client:
        approval = (
            await client.call_tool("finalize_order", {"order_id": state.seed_info.draft_orders["good_card"]})
        ).structured_content["approval"]  # type: ignore[index]
    served = None
    chromium.execute_cdp_cmd("Emulation.setTimezoneOverride", {"timezoneId": "Asia/Tokyo"})
    try:
        sign_in(chromium, approval["approve_at"])
        served = chromium.page_source
        shown = [t.text for t in chromium.find_elements(By.CSS_SELECTOR, "main time")]
    finally:
        chromium.execute_cdp_cmd("Emulation.setTimezoneOverride", {"timezoneId": ""})
    assert shown and all("GMT+9" in t and t.endswith(" UTC)") for t in shown), shown
    assert served is not None and "<time datetime=" in served


async def test_an_expired_request_offers_no_buttons(chromium: Any, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    emulator = create_app(orders=20)
    state = emulator.state.emulator
    settings = Settings(
        emulator=True,
        transport="http",
        http_token=HTTP_TOKEN,
        approver_token=APPROVER_SECRET,
        approval_wait=0,
        approval_ttl=1,
        state_dir=tmp_path / "state",
    )
    server = build_server(settings, transport=httpx2.ASGITransport(app=emulator))
    order_id = state.seed_info.draft_orders["good_card"]
    with serve_in_thread(http_app(server, settings)) as url:
        async with agent(url) as client:
            approval = (await client.call_tool("finalize_order", {"order_id": order_id})).structured_content["approval"]  # type: ignore[index]
            import anyio

            await anyio.sleep(1.2)
            sign_in(chromium, approval["approve_at"])
            main = chromium.find_element(By.TAG_NAME, "main").text
            assert "Expired" in main
            assert chromium.find_elements(By.CSS_SELECTOR, "button.approve") == []
            told = await client.call_tool(
                "finalize_order", {"order_id": order_id, "approval_id": approval["approval_id"]}
            )
    assert told.is_error and "expired at" in told.content[0].text  # type: ignore[union-attr]
    assert state.store.order(order_id).status == "draft"


async def test_the_console_is_readable_on_a_phone(chromium: Any, desk: tuple[str, Any]) -> None:
    from selenium.webdriver.common.by import By

    url, state = desk
    async with agent(url) as client:
        approval = (
            await client.call_tool("finalize_order", {"order_id": state.seed_info.draft_orders["good_card"]})
        ).structured_content["approval"]  # type: ignore[index]
    chromium.set_window_size(390, 844)
    try:
        sign_in(chromium, approval["approve_at"])
        overflow = chromium.execute_script(
            "return document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        approve = chromium.find_element(By.CSS_SELECTOR, "button.approve")
        assert overflow <= 0
        assert approve.is_displayed() and approve.size["width"] >= 120
    finally:
        chromium.set_window_size(1100, 900)
