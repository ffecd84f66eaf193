"""Two server processes on one PostgreSQL database, the emulator as a third process, the proxy in front:
the topology of `make replicas` (deploy/local.py), started once per module."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import asyncpg
import httpx2
import pytest
from deploy.local import ORG_TOKEN, Topology
from mcp.client import Client
from mcp.client.streamable_http import streamable_http_client

from polar_orders_mcp.emulator.seed import SeedInfo
from tests.approvals.console_client import Person
from tests.conftest import Postgres

DAILY_LIMIT = 4500  # $45.00: three of the emulator's $15.00 charges


@pytest.fixture(scope="module")
def topology(postgres: Postgres) -> Iterator[Topology]:
    serve_args = ["--max-daily", f"usd={DAILY_LIMIT}", "--approval-wait", "0", "--log-level", "warning"]
    with Topology(replicas=2, database_url=postgres.new_database(), orders=20, serve_args=serve_args) as running:
        yield running


@pytest.fixture
async def polar(topology: Topology) -> AsyncIterator[Polar]:
    """The emulator, reset to its seed (no faults, an empty request journal); the store's spend totals
    emptied, so that each test starts with its whole daily limit; a replica a test killed, started again."""
    for index, replica in enumerate(topology.replicas):
        if replica.proc.poll() is not None:
            topology.restart(index)
    async with httpx2.AsyncClient(
        base_url=topology.emulator_url, timeout=30, headers={"Authorization": f"Bearer {ORG_TOKEN}"}
    ) as http:
        (await http.post("/_emulator/reset")).raise_for_status()
        connection = await asyncpg.connect(topology.database_url)
        try:
            await connection.execute("DELETE FROM pom_acts")
        finally:
            await connection.close()
        yield Polar(
            http,
            SeedInfo(
                **{
                    k: v
                    for k, v in (await http.get("/_emulator/state")).json().items()
                    if k in SeedInfo.__dataclass_fields__
                }
            ),
        )


class Polar:
    """The emulator behind every replica, spoken to as Polar's API and through its control plane."""

    def __init__(self, http: httpx2.AsyncClient, seed: SeedInfo) -> None:
        self.http, self.seed = http, seed

    async def charges(self, order_id: str) -> int:
        """How many charge requests for this order reached Polar."""
        path = f"/v1/orders/{order_id}/finalize"
        answer = await self.http.get("/_emulator/requests", params={"method": "POST", "path": path})
        return answer.json()["count"]  # type: ignore[no-any-return]

    async def order(self, order_id: str) -> dict[str, Any]:
        return (await self.http.get(f"/v1/orders/{order_id}")).json()  # type: ignore[no-any-return]

    async def new_draft(self) -> str:
        body = {"customer_id": self.seed.customers["good_card"], "product_id": self.seed.products["one_time_fixed"]}
        made = await self.http.post("/v1/orders/", json=body)
        assert made.status_code == 201, made.text
        return made.json()["id"]  # type: ignore[no-any-return]

    async def fault(self, **fault: Any) -> None:
        assert (await self.http.post("/_emulator/faults", json=fault)).status_code == 201


def agent(topology: Topology, url: str) -> Client:
    """A 2026-07-28 MCP client of the server at `url` that cannot elicit: approvals go to the console."""
    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {topology.secrets.http_token}"}, timeout=60)
    return Client(streamable_http_client(f"{url}/mcp", http_client=http))


def person(topology: Topology, url: str) -> Person:
    """An approver at the console of the server at `url`."""
    return Person(base_url=url, secret=topology.secrets.approver_token)
