"""Bearer tokens, scopes, customer sessions and the Polar-Version header."""

from __future__ import annotations

from datetime import timedelta

import httpx2
import pytest

from polar_orders_mcp.emulator.errors import INSUFFICIENT_SCOPE_DESCRIPTION, INVALID_TOKEN_DESCRIPTION
from polar_orders_mcp.emulator.seed import READ_ONLY_TOKEN, SeedInfo
from polar_orders_mcp.emulator.state import EmulatorState

pytestmark = pytest.mark.anyio


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_missing_token_is_401_unauthorized(anonymous: httpx2.AsyncClient) -> None:
    response = await anonymous.get("/v1/orders/")
    assert response.status_code == 401
    assert response.json() == {"error": "Unauthorized", "detail": "Unauthorized"}
    # polar.exceptions.Unauthorized's challenge, realm from Polar's settings.
    assert response.headers["www-authenticate"] == 'Bearer realm="polar"'


async def test_unknown_token_is_401_invalid_token_with_challenge(anonymous: httpx2.AsyncClient) -> None:
    response = await anonymous.get("/v1/products/", headers=bearer("polar_oat_from_sandbox"))
    assert response.status_code == 401
    assert response.json() == {"error": "invalid_token", "error_description": INVALID_TOKEN_DESCRIPTION}
    assert response.headers["www-authenticate"] == (
        f'Bearer realm="polar", error="invalid_token", error_description="{INVALID_TOKEN_DESCRIPTION}"'
    )


async def test_read_only_token_reads_but_cannot_write(anonymous: httpx2.AsyncClient, info: SeedInfo) -> None:
    headers = bearer(READ_ONLY_TOKEN)
    assert (await anonymous.get("/v1/orders/", headers=headers)).status_code == 200
    assert (await anonymous.get("/v1/checkouts/", headers=headers)).status_code == 200
    for method, path in (
        ("POST", f"/v1/orders/{info.draft_orders['good_card']}/finalize"),
        ("PATCH", f"/v1/orders/{info.paid_order_id}"),
        ("POST", "/v1/checkouts/"),
        ("POST", "/v1/customer-sessions/"),
    ):
        response = await anonymous.request(method, path, headers=headers, json={})
        assert response.status_code == 403, path
        assert response.json() == {"error": "insufficient_scope", "error_description": INSUFFICIENT_SCOPE_DESCRIPTION}
        assert response.headers["www-authenticate"].startswith('Bearer realm="polar", scope="')
        assert response.headers["www-authenticate"].endswith(
            f'", error="insufficient_scope", error_description="{INSUFFICIENT_SCOPE_DESCRIPTION}"'
        )
    # Polar's spec quirk: generating an invoice needs only orders:read.
    response = await anonymous.post(f"/v1/orders/{info.paid_order_id}/invoice", headers=headers)
    assert response.status_code == 202


async def test_customer_session_reaches_only_the_portal(
    client: httpx2.AsyncClient, anonymous: httpx2.AsyncClient, info: SeedInfo
) -> None:
    session = (await client.post("/v1/customer-sessions/", json={"customer_id": info.customers["good_card"]})).json()
    assert session["token"].startswith("polar_cst_")
    headers = bearer(session["token"])
    assert (await anonymous.get("/v1/customer-portal/orders/", headers=headers)).status_code == 200
    response = await anonymous.get("/v1/orders/", headers=headers)
    assert response.status_code == 401 and response.json() == {"error": "Unauthorized", "detail": "Unauthorized"}
    # ...and an organization token is not a customer session.
    response = await client.get("/v1/customer-portal/orders/")
    assert response.status_code == 401 and response.json()["error"] == "Unauthorized"


async def test_customer_session_expires_after_an_hour(
    client: httpx2.AsyncClient, anonymous: httpx2.AsyncClient, state: EmulatorState, info: SeedInfo
) -> None:
    session = (await client.post("/v1/customer-sessions/", json={"customer_id": info.customers["good_card"]})).json()
    later = state.now() + timedelta(hours=1, seconds=1)
    state.clock = lambda: later
    response = await anonymous.get("/v1/customer-portal/orders/", headers=bearer(session["token"]))
    assert response.status_code == 401 and response.json()["error"] == "invalid_token"


async def test_client_checkout_paths_need_no_bearer_but_reject_a_bad_one(
    anonymous: httpx2.AsyncClient, info: SeedInfo
) -> None:
    path = f"/v1/checkouts/client/{info.open_checkout_client_secret}"
    assert (await anonymous.get(path)).status_code == 200
    assert (await anonymous.get(path, headers=bearer("polar_oat_nope"))).status_code == 401


@pytest.mark.parametrize(
    "version, status, served",
    [
        (None, 200, "2026-04"),
        ("2026-04", 200, "2026-04"),
        ("2026-10", 200, "2026-10"),
        ("2025-01", 404, None),
        ("2027-01", 404, None),
        ("latest", 404, None),
        (" 2026-10", 404, None),
    ],
)
async def test_polar_version_header(
    client: httpx2.AsyncClient, version: str | None, status: int, served: str | None
) -> None:
    headers = {"Polar-Version": version} if version else {}
    response = await client.get("/v1/orders/", headers=headers)
    assert response.status_code == status
    # Polar's APIVersionMiddleware: a request without the header is served as 2026-04, the answer says
    # which version it is, and an unknown version reaches no router at all.
    assert response.headers.get("polar-version") == served
    if status == 404:
        assert response.json() == {"detail": "Not Found"}


async def test_errors_carry_the_version_too(anonymous: httpx2.AsyncClient) -> None:
    response = await anonymous.get("/v1/orders/", headers={"Polar-Version": "2026-10"})
    assert response.status_code == 401 and response.headers["polar-version"] == "2026-10"
    assert "polar-version" not in (await anonymous.get("/_emulator/state")).headers


async def test_unknown_version_wins_over_auth_and_spares_the_control_plane(anonymous: httpx2.AsyncClient) -> None:
    assert (await anonymous.get("/v1/orders/", headers={"Polar-Version": "1999-01"})).status_code == 404
    assert (await anonymous.get("/_emulator/state", headers={"Polar-Version": "1999-01"})).status_code == 200
