"""The organization a token belongs to: its capabilities and feature settings, as the control plane sets them."""

from __future__ import annotations

import httpx2
import pytest

from polar_orders_mcp.emulator.models import OrgPrincipal
from polar_orders_mcp.emulator.seed import SCOPES, SeedInfo
from polar_orders_mcp.emulator.state import EmulatorState

from .conftest import SpecChecker
from .test_conformance import UNKNOWN

pytestmark = pytest.mark.anyio
ONE = "/v1/organizations/{id}"


async def test_the_organization_shows_what_polar_allows_it(
    client: httpx2.AsyncClient, info: SeedInfo, state: EmulatorState
) -> None:
    path = f"/v1/organizations/{info.organization_id}"
    before = (await client.get(path)).json()
    assert (before["id"], before["slug"], before["status"]) == (info.organization_id, "emulator-labs", "active")
    assert before["capabilities"]["refunds"] is True and before["capabilities"]["checkout_payments"] is True
    assert before["feature_settings"]["off_session_charges_enabled"] is True
    state.set_organization(can_refund=False, payments_ready=False, off_session_charges_enabled=False)
    after = (await client.get(path)).json()
    assert (after["capabilities"]["refunds"], after["capabilities"]["checkout_payments"]) == (False, False)
    assert after["feature_settings"]["off_session_charges_enabled"] is False


async def test_another_organization_is_not_found_and_the_scope_is_checked(
    client: httpx2.AsyncClient, info: SeedInfo, state: EmulatorState
) -> None:
    missing = await client.get(f"/v1/organizations/{UNKNOWN}")
    assert (missing.status_code, missing.json()) == (404, {"error": "ResourceNotFound", "detail": "Not found"})
    token = "polar_oat_no_organizations"
    state.store.tokens[token] = OrgPrincipal(
        info.organization_id, SCOPES - {"organizations:read", "organizations:write"}
    )
    refused = await client.get(
        f"/v1/organizations/{info.organization_id}", headers={"Authorization": f"Bearer {token}"}
    )
    assert refused.status_code == 403 and refused.json()["error"] == "insufficient_scope"


async def test_conformance(
    client: httpx2.AsyncClient, conform_full: SpecChecker, info: SeedInfo, state: EmulatorState
) -> None:
    conform_full.check(await client.get(f"/v1/organizations/{info.organization_id}"), "GET", ONE)
    state.set_organization(can_refund=False, payments_ready=False, off_session_charges_enabled=False)
    conform_full.check(await client.get(f"/v1/organizations/{info.organization_id}"), "GET", ONE)
    conform_full.check(await client.get(f"/v1/organizations/{UNKNOWN}"), "GET", ONE)
    conform_full.check(await client.get("/v1/organizations/x"), "GET", ONE)
    assert {s for _, _, s in conform_full.checked} == {200, 404, 422}
