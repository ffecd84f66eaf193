"""The control plane under /_emulator/, and `serve`'s banner."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

import httpx2
import pytest

from polar_orders_mcp.emulator import app as app_module
from polar_orders_mcp.emulator.seed import ORG_TOKEN, READ_ONLY_TOKEN, SeedInfo

pytestmark = pytest.mark.anyio


async def test_state_exposes_the_seed_info(anonymous: httpx2.AsyncClient, info: SeedInfo) -> None:
    body = (await anonymous.get("/_emulator/state")).json()
    for field in fields(SeedInfo):
        assert body[field.name] == getattr(info, field.name)
    assert set(body["customers"]) == {
        "good_card",
        "declining_card",
        "sca_card",
        "no_payment_method",
        "no_billing_address",
    }
    assert body["settings"] == {
        "receipt_render_polls": 1,
        "invoice_render_polls": 0,
        "charge_seconds": 0.0,
        "refund_status": "succeeded",
    }
    assert body["organization"] == {"off_session_charges_enabled": True, "payments_ready": True, "can_refund": True}
    assert body["counts"]["orders"] == 60


async def test_reset_restores_a_fresh_state(client: httpx2.AsyncClient, info: SeedInfo) -> None:
    order_id = info.draft_orders["good_card"]
    await client.post(f"/v1/orders/{order_id}/finalize")
    await client.patch("/_emulator/settings", json={"receipt_render_polls": 5})
    await client.patch("/_emulator/organization", json={"off_session_charges_enabled": False})
    reset = (await client.post("/_emulator/reset")).json()
    assert reset["draft_orders"]["good_card"] == order_id
    assert (await client.get(f"/v1/orders/{order_id}")).json()["status"] == "draft"
    assert reset["settings"]["receipt_render_polls"] == 1
    assert reset["organization"]["off_session_charges_enabled"] is True


async def test_seed_changes_size_and_ids_then_reset_keeps_them(client: httpx2.AsyncClient, info: SeedInfo) -> None:
    reseeded = (await client.post("/_emulator/seed", json={"orders": 300, "seed": 7})).json()
    assert reseeded["counts"]["orders"] == 300 and reseeded["seed"] == 7
    assert reseeded["organization_id"] != info.organization_id
    assert reseeded["org_token"] == ORG_TOKEN and reseeded["read_only_token"] == READ_ONLY_TOKEN
    assert (await client.get("/v1/orders/")).json()["pagination"]["total_count"] == 300
    again = (await client.post("/_emulator/reset")).json()
    assert again["counts"]["orders"] == 300 and again["organization_id"] == reseeded["organization_id"]
    bad = await client.post("/_emulator/seed", json={"orders": -1})
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["body", "orders"]


async def test_settings_and_organization_patches(anonymous: httpx2.AsyncClient) -> None:
    settings = await anonymous.patch("/_emulator/settings", json={"receipt_render_polls": 3})
    assert settings.json() == {
        "receipt_render_polls": 3,
        "invoice_render_polls": 0,
        "charge_seconds": 0.0,
        "refund_status": "succeeded",
    }
    org = await anonymous.patch("/_emulator/organization", json={"off_session_charges_enabled": False})
    assert org.json() == {"off_session_charges_enabled": False, "payments_ready": True, "can_refund": True}
    refunds = await anonymous.patch("/_emulator/organization", json={"can_refund": False})
    assert refunds.json()["can_refund"] is False
    pending = await anonymous.patch("/_emulator/settings", json={"refund_status": "pending"})
    assert pending.json()["refund_status"] == "pending"
    assert (await anonymous.patch("/_emulator/settings", json={"refund_status": "failed"})).status_code == 422
    assert (await anonymous.patch("/_emulator/settings", json={"receipt_render_polls": "many"})).status_code == 422


async def test_checkout_and_portal_pages_exist(anonymous: httpx2.AsyncClient, info: SeedInfo) -> None:
    assert (await anonymous.get(f"/_emulator/checkouts/{info.open_checkout_client_secret}")).status_code == 200
    assert (await anonymous.get("/_emulator/checkouts/polar_c_nope")).status_code == 404


def test_serve_prints_the_url_and_tokens(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    ran: dict[str, Any] = {}
    import uvicorn

    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: ran.update(app=app, **kwargs))
    app_module.serve(host="127.0.0.1", port=8765, orders=20)
    out = capsys.readouterr().out
    assert "http://127.0.0.1:8765" in out and ORG_TOKEN in out and READ_ONLY_TOKEN in out
    assert ran["host"] == "127.0.0.1" and ran["port"] == 8765
    assert ran["app"].state.emulator.seed_info.orders == 20
