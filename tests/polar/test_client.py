"""What every request carries: the server, auth, the API version, timeouts."""

from __future__ import annotations

import pytest

from polar_orders_mcp.polar.client import DEFAULT_API_VERSION, PolarClient
from polar_orders_mcp.polar.servers import SERVERS, resolve_server
from tests.polar.scripted import ORDER_ID, Script, client_for, json_response, order_json

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize(
    ("server", "environment", "base_url"),
    [
        ("production", "production", "https://api.polar.sh"),
        ("sandbox", "sandbox", "https://sandbox-api.polar.sh"),
        ("https://sandbox-api.polar.sh/", "sandbox", "https://sandbox-api.polar.sh"),
        ("http://127.0.0.1:8000", "custom", "http://127.0.0.1:8000"),
    ],
)
def test_servers(server: str, environment: str, base_url: str) -> None:
    assert resolve_server(server) == (environment, base_url)
    assert SERVERS["production"] == "https://api.polar.sh"


@pytest.mark.parametrize(
    ("server", "problem"),
    [
        ("staging", "it does not start with http:// or https://"),
        ("ftp://x", "it does not start with http:// or https://"),
        ("api.polar.sh", "it does not start with http:// or https://"),
        ("", "it does not start with http:// or https://"),
        ("http://", "it has no host name"),
        ("https:///v1", "it has no host name"),
        ("http://127.0.0.1:99999", "its port is not a number from 0 to 65535"),
        ("https://api.polar.sh/?x=1", "it has a query, a fragment or spaces"),
    ],
)
def test_unknown_server_is_refused(server: str, problem: str) -> None:
    with pytest.raises(ValueError) as refused:
        resolve_server(server)
    assert str(refused.value) == (
        "must be 'production', 'sandbox', or a base URL such as https://sandbox-api.polar.sh or "
        f"http://127.0.0.1:8080; the value {server!r} is not one: {problem}"
    )


def test_a_server_url_with_a_password_is_refused_without_showing_it() -> None:
    with pytest.raises(ValueError) as refused:
        resolve_server("https://user:s3cret@api.polar.sh")
    assert "s3cret" not in str(refused.value)
    assert str(refused.value).endswith("it holds a user name or password: the token goes in POLAR_ACCESS_TOKEN")


async def test_requests_carry_auth_version_and_user_agent() -> None:
    script = Script(json_response(200, order_json()))
    async with client_for(script, token="polar_oat_abc", server="sandbox") as polar:
        assert (polar.environment, polar.base_url) == ("sandbox", "https://sandbox-api.polar.sh")
        await polar.orders.get(ORDER_ID)
    request = script.requests[0]
    assert str(request.url) == f"https://sandbox-api.polar.sh/v1/orders/{ORDER_ID}"
    assert request.headers["Authorization"] == "Bearer polar_oat_abc"
    assert request.headers["Polar-Version"] == DEFAULT_API_VERSION == "2026-10"
    assert request.headers["User-Agent"].startswith("polar-orders-mcp/")


async def test_version_and_user_agent_are_configurable() -> None:
    script = Script(json_response(200, order_json()))
    async with client_for(script, api_version="2027-01", user_agent="desk/1") as polar:
        await polar.orders.get(ORDER_ID)
    assert script.requests[0].headers["Polar-Version"] == "2027-01"
    assert script.requests[0].headers["User-Agent"] == "desk/1"


async def test_timeouts() -> None:
    script = Script(json_response(200, order_json()))
    async with client_for(script, timeout=20.0) as polar:
        await polar.orders.get(ORDER_ID)
    timeouts = script.requests[0].extensions["timeout"]
    assert timeouts == {"connect": 5.0, "read": 20.0, "write": 20.0, "pool": 20.0}


async def test_checkout_client_routes_send_no_token() -> None:
    body = {
        "id": "c",
        "status": "open",
        "client_secret": "polar_c_s",
        "url": "https://x",
        "expires_at": "2026-10-01T00:00:00Z",
        "amount": 1,
        "net_amount": 1,
        "total_amount": 1,
        "currency": "usd",
    }
    script = Script(json_response(200, body))
    async with client_for(script) as polar:
        await polar.checkouts.client_get("polar_c_s")
        await polar.checkouts.get("c")
    assert "Authorization" not in script.requests[0].headers
    assert script.requests[1].headers["Authorization"] == "Bearer polar_oat_test"


async def test_customer_portal_uses_the_customer_session() -> None:
    script = Script(json_response(200, order_json()))
    async with client_for(script, customer_session="polar_cst_abc") as polar:
        await polar.customer_portal.orders.get(ORDER_ID)
        await polar.orders.get(ORDER_ID)
    assert script.requests[0].url.path == f"/v1/customer-portal/orders/{ORDER_ID}"
    assert script.requests[0].headers["Authorization"] == "Bearer polar_cst_abc"
    assert script.requests[1].headers["Authorization"] == "Bearer polar_oat_test"


async def test_ids_are_quoted_into_one_segment() -> None:
    script = Script(json_response(200, order_json()))
    async with client_for(script) as polar:
        await polar.orders.get("../customers/x")
    assert script.requests[0].url.raw_path == b"/v1/orders/..%2Fcustomers%2Fx"


def test_repr_names_the_environment_only() -> None:
    client = PolarClient("polar_oat_secret", server="sandbox")
    assert repr(client) == "PolarClient(environment='sandbox', base_url='https://sandbox-api.polar.sh')"
