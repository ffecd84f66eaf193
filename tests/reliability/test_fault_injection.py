"""The emulator's fault injection on the wire: what a plain HTTP client sees for each kind of fault."""

from __future__ import annotations

from typing import Any

import httpx2
import pytest

from polar_orders_mcp.emulator.faults import ConnectionDropped, compile_path
from polar_orders_mcp.emulator.seed import ORG_TOKEN, SeedInfo
from polar_orders_mcp.emulator.state import EmulatorState
from tests.reliability.conftest import Faults

pytestmark = pytest.mark.anyio

ORG = {"Authorization": f"Bearer {ORG_TOKEN}"}


@pytest.mark.parametrize(
    "fault,outcome",
    [
        pytest.param({"kind": "status", "status": 500}, 500, id="500"),
        pytest.param({"kind": "status", "status": 502}, 502, id="502"),
        pytest.param({"kind": "status", "status": 503}, 503, id="503"),
        pytest.param({"kind": "status", "status": 504}, 504, id="504"),
        pytest.param({"kind": "rate_limit", "retry_after": 7}, 429, id="rate_limit"),
        pytest.param({"kind": "drop_before"}, httpx2.RemoteProtocolError, id="drop_before"),
        pytest.param({"kind": "drop_after"}, httpx2.RemoteProtocolError, id="drop_after"),
        pytest.param({"kind": "truncate"}, httpx2.RemoteProtocolError, id="truncate"),
        pytest.param({"kind": "malformed"}, "malformed", id="malformed"),
        pytest.param({"kind": "slow_body", "seconds": 1.0}, httpx2.ReadTimeout, id="slow_body"),
        pytest.param({"kind": "latency", "seconds": 1.0}, httpx2.ReadTimeout, id="latency"),
    ],
)
async def test_each_fault_reaches_the_client_for_real_then_the_next_request_is_normal(
    polar_url: str, faults: Faults, seed: SeedInfo, fault: dict[str, Any], outcome: Any
) -> None:
    path = f"/v1/orders/{seed.paid_order_id}"
    await faults.add(path="/v1/orders/{id}", method="GET", **fault)
    async with httpx2.AsyncClient(base_url=polar_url, headers=ORG, timeout=0.5) as http:
        if isinstance(outcome, type):
            with pytest.raises(outcome):
                await http.get(path)
        else:
            response = await http.get(path)
            if outcome == "malformed":
                assert response.status_code == 200
                with pytest.raises(ValueError):
                    response.json()
            else:
                assert response.status_code == outcome
                if outcome == 429:
                    assert response.headers["retry-after"] == "7" and response.content == b""
                if outcome in (502, 503, 504):
                    assert response.headers["content-type"].startswith("text/html")
        after = await http.get(path)
    assert after.status_code == 200 and after.json()["id"] == seed.paid_order_id
    assert await faults.received("GET", "/v1/orders/{id}") == 2


async def test_drop_before_leaves_the_route_unrun_and_drop_after_lets_it_act(
    polar_url: str, faults: Faults, seed: SeedInfo, state: EmulatorState
) -> None:
    order_id = seed.draft_orders["good_card"]
    await faults.add("drop_before", f"/v1/orders/{order_id}/finalize")
    await faults.add("drop_after", "/v1/orders/{id}/finalize", method="POST")
    async with httpx2.AsyncClient(base_url=polar_url, headers=ORG, timeout=5) as http:
        with pytest.raises(httpx2.RemoteProtocolError, match="without sending a response"):
            await http.post(f"/v1/orders/{order_id}/finalize", json={})
        assert state.store.order(order_id).status == "draft"
        with pytest.raises(httpx2.RemoteProtocolError, match="without sending a response"):
            await http.post(f"/v1/orders/{order_id}/finalize", json={})
        assert state.store.order(order_id).status == "paid"
    listed = (await faults.http.get("/_emulator/faults")).json()["faults"]
    assert [(f["kind"], f["remaining"], f["applied"]) for f in listed] == [("drop_before", 0, 1), ("drop_after", 0, 1)]


async def test_in_process_a_dropped_connection_is_an_httpx2_transport_error(emulator: Any, seed: SeedInfo) -> None:
    emulator.state.emulator.faults.add("drop_after", "/v1/orders/*", count=2)
    emulator.state.emulator.faults.add("truncate", "/v1/orders/*")
    transport = httpx2.ASGITransport(app=emulator)
    async with httpx2.AsyncClient(transport=transport, base_url="http://polar.test", headers=ORG) as http:
        for _ in range(3):
            with pytest.raises(httpx2.TransportError) as caught:
                await http.get(f"/v1/orders/{seed.paid_order_id}")
            assert isinstance(caught.value, ConnectionDropped)
        assert (await http.get(f"/v1/orders/{seed.paid_order_id}")).status_code == 200


async def test_faults_match_by_method_path_template_prefix_and_regex(faults: Faults, seed: SeedInfo) -> None:
    assert compile_path("/v1/orders/{id}").match("/v1/orders/abc")
    assert not compile_path("/v1/orders/{id}").match("/v1/orders/abc/finalize")
    assert compile_path("/v1/orders/*").match("/v1/orders/abc/finalize")
    assert compile_path("^/v1/(orders|checkouts)/").search("/v1/checkouts/x")
    await faults.add("status", "/v1/orders/{id}", method="POST", count=3)  # never matches a GET
    http = faults.http
    assert (await http.get(f"/v1/orders/{seed.paid_order_id}", headers=ORG)).status_code == 200
    await faults.add("status", "^/v1/orders/[0-9a-f-]+$", method="get", count=2, status=500)
    statuses = [(await http.get(f"/v1/orders/{seed.paid_order_id}", headers=ORG)).status_code for _ in range(3)]
    assert statuses == [500, 500, 200]
    await faults.add("status", "/v1/orders/{id}", skip=2, status=502)
    statuses = [(await http.get(f"/v1/orders/{seed.paid_order_id}", headers=ORG)).status_code for _ in range(4)]
    assert statuses == [200, 200, 502, 200]


async def test_the_control_plane_lists_clears_and_validates_faults(faults: Faults, state: EmulatorState) -> None:
    http = faults.http
    added = await faults.add("latency", "/v1/products/*", seconds=0.01, count=5)
    assert added["remaining"] == 5 and added["method"] is None
    assert [f["id"] for f in (await http.get("/_emulator/faults")).json()["faults"]] == [added["id"]]
    assert (await http.delete("/_emulator/faults")).json() == {"faults": []}
    assert (await http.get("/_emulator/faults")).json() == {"faults": []}
    bad = await http.post("/_emulator/faults", json={"kind": "explode", "path": "^(", "count": 0})
    assert bad.status_code == 422
    assert {tuple(e["loc"]) for e in bad.json()["detail"]} == {("body", "kind"), ("body", "path"), ("body", "count")}
    await faults.add("status", "/v1/*")
    await http.post("/_emulator/reset")
    assert state.faults.faults == [] and (await http.get("/_emulator/faults")).json() == {"faults": []}


async def test_the_request_journal_counts_what_reached_the_api(faults: Faults, seed: SeedInfo) -> None:
    http = faults.http
    await http.get(f"/v1/orders/{seed.paid_order_id}", headers=ORG)
    await http.get("/v1/orders/", headers=ORG)
    await http.get("/_emulator/state")  # the control plane is not journaled
    journal = (await http.get("/_emulator/requests")).json()
    assert journal["count"] == 2
    assert journal["requests"][0] == {"method": "GET", "path": f"/v1/orders/{seed.paid_order_id}", "fault": None}
    assert await faults.received("GET", "/v1/orders/{id}") == 1
    assert (await http.delete("/_emulator/requests")).json()["count"] == 0
    assert await faults.received("GET", "/v1/*") == 0
